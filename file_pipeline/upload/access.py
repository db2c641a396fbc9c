"""Downloads and shares of stored files, announced as the tutorial's DOWNLOADED and SHARED events.

Each is written through the outbox in the same transaction as what it records (the share row;
for a download, the presigned URL is handed out only once its event is recorded), so no event
is lost and none announces something that did not happen. Consumers count them and never
reprocess the file for them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import psycopg

from file_pipeline.db import files as file_rows
from file_pipeline.db.outbox import enqueue_events
from file_pipeline.errors import InvalidUploadError
from file_pipeline.events.schema import EventType, FileEvent, new_event
from file_pipeline.states import FileStatus

if TYPE_CHECKING:
    from file_pipeline.resources.postgres import PostgresResource


class FileAccessError(InvalidUploadError):
    """A file cannot be downloaded or shared (unknown, deleted, or not clean)."""


def record_download(postgres: PostgresResource, file_id: str, topic: str) -> tuple[str, FileEvent]:
    """The s3 key of a clean live file, and the DOWNLOADED event recorded for handing it out."""
    with postgres.connection() as conn, conn.transaction():
        row = _clean_live_row(conn, file_id)
        event = new_event(
            EventType.DOWNLOADED, file_rows.row_to_metadata(row), int(time.time() * 1000)
        )
        enqueue_events(conn, [event], topic)
    return row["s3_key"], event


def record_share(
    postgres: PostgresResource, file_id: str, shared_with: str, topic: str
) -> FileEvent | None:
    """Share a clean live file with `shared_with`; the SHARED event, or None when it already was
    shared with them (no second event)."""
    if not shared_with.strip() or len(shared_with) > 256 or "\x00" in shared_with:
        raise FileAccessError("a user name of 1 to 256 characters, without NUL, is needed")
    with postgres.connection() as conn, conn.transaction():
        row = _clean_live_row(conn, file_id)
        event = new_event(
            EventType.SHARED,
            file_rows.row_to_metadata(row),
            int(time.time() * 1000),
            shared_with=shared_with,
        )
        assert event.event_id is not None
        if not file_rows.insert_share(conn, file_id, shared_with, event.event_id):
            return None
        enqueue_events(conn, [event], topic)
    return event


def _clean_live_row(conn: psycopg.Connection, file_id: str) -> file_rows.Row:
    row = file_rows.share_lock_file(conn, file_id)
    if row is None or row["deleted_at"] is not None:
        raise FileAccessError(f"no live file with id {file_id}")
    if row["status"] != FileStatus.CLEAN.value:
        signature = f" ({row['scan_signature']})" if row["scan_signature"] else ""
        raise FileAccessError(
            f"file {file_id} is {row['status']}, not clean: its bytes are not handed out{signature}"
        )
    return row
