"""Deleting files: mark the row deleted, drop its derived output rows and queue a DELETED event in
one transaction, then remove the blob and the renditions.

The database is changed first: if removing an object fails afterwards, the row already says
deleted and reconciliation removes the leftover objects, so a live row never points at a missing
blob. The row is locked while this happens, and processing writes outputs only under a share lock
on the row after checking it is live, so a file deleted mid-processing keeps no outputs. Deleting
a file twice is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from file_pipeline.db import files, outbox, outputs
from file_pipeline.errors import ObjectStoreError
from file_pipeline.events.schema import EventType, new_event
from file_pipeline.log import Logger
from file_pipeline.states import Stage
from file_pipeline.upload import keys

if TYPE_CHECKING:
    from file_pipeline.resources.postgres import PostgresResource
    from file_pipeline.resources.storage import ObjectStorageResource


@dataclass
class DeleteResult:
    deleted: list[str] = field(default_factory=list)
    already_deleted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    objects_removed: int = 0
    leftovers: list[str] = field(default_factory=list)


def delete_files(
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    file_ids: Sequence[str],
    *,
    topic: str,
    log: Logger,
) -> DeleteResult:
    result = DeleteResult()
    to_remove: list[tuple[str, str]] = []
    with postgres.connection() as conn, conn.transaction():
        for file_id in dict.fromkeys(file_ids):
            row = files.lock_file(conn, file_id)
            if row is None:
                result.missing.append(file_id)
                continue
            if row["deleted_at"] is not None:
                result.already_deleted.append(file_id)
                continue
            files.mark_deleted(conn, file_id)
            for stage in Stage.derived():
                outputs.delete_outputs(conn, file_id, stage)
            event = new_event(
                EventType.DELETED, files.row_to_metadata(row), int(time.time() * 1000)
            )
            outbox.enqueue_events(conn, [event], topic)
            result.deleted.append(file_id)
            to_remove.append((file_id, row["s3_key"]))
    for file_id, key in to_remove:
        with postgres.connection() as conn:
            shared = files.live_rows_with_key(conn, keys.upload_key_of(key), excluding=file_id)
        blobs = [] if shared else [keys.upload_key_of(key), keys.quarantine_key(key)]
        for object_key in [*blobs, *storage.list_keys(keys.thumbnail_prefix(file_id))]:
            try:
                if storage.exists(object_key):
                    storage.delete(object_key)
                    result.objects_removed += 1
            except ObjectStoreError as exc:
                result.leftovers.append(object_key)
                log.warning(f"could not remove {object_key} (reconciliation will): {exc}")
    return result
