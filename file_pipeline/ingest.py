"""Ingesting local files: blob first under a fresh key, then `files` + outbox rows in one
transaction.

A crash between the two steps leaves only a blob with no row, which reconciliation sweeps; it can
never leave a row (or an event) pointing at a missing blob.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from file_pipeline import keys
from file_pipeline.content_types import SNIFF_BYTES, detect_content_type
from file_pipeline.db import queries
from file_pipeline.errors import FilePipelineError, InvalidUploadError, ObjectStoreError
from file_pipeline.events import EventType, FileMetadata, new_event
from file_pipeline.local_files import Rejected
from file_pipeline.resources.postgres import PostgresResource
from file_pipeline.resources.storage import ObjectStorageResource

MAX_USER_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 4000


@dataclass
class IngestResult:
    stored: list[FileMetadata] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def bytes_stored(self) -> int:
        return sum(f.file_size for f in self.stored)


def validate_uploader(uploaded_by: str, description: str | None) -> None:
    if not uploaded_by or not uploaded_by.strip():
        raise InvalidUploadError("uploaded_by must not be empty")
    if len(uploaded_by) > MAX_USER_LENGTH:
        raise InvalidUploadError(f"uploaded_by is longer than {MAX_USER_LENGTH} characters")
    if any(ord(c) < 32 or c == "\x7f" for c in uploaded_by):
        raise InvalidUploadError("uploaded_by contains control characters")
    if description is not None:
        if len(description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidUploadError(
                f"description is longer than {MAX_DESCRIPTION_LENGTH} characters"
            )
        if "\x00" in description:
            raise InvalidUploadError("description contains a NUL character")


def _store_blob(
    storage: ObjectStorageResource, path: Path, uploaded_by: str, description: str | None
) -> FileMetadata:
    file_id = str(uuid.uuid4())
    filename = path.name
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    content_type = detect_content_type(head, filename)
    key = keys.upload_key(uploaded_by, file_id, filename)
    size_before = path.stat().st_size
    sha256 = storage.upload_file(path, key, content_type)
    return FileMetadata(
        id=file_id,
        filename=filename,
        s3_key=key,
        s3_url=storage.object_url(key),
        file_size=size_before,
        content_type=content_type,
        uploaded_by=uploaded_by,
        uploaded_at=int(time.time() * 1000),
        description=description,
        sha256=sha256,
    )


def ingest_files(
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    files: Sequence[Path],
    *,
    uploaded_by: str,
    description: str | None,
    topic: str,
    run_id: str | None,
    log: logging.Logger | logging.LoggerAdapter,
    concurrency: int = 4,
    on_progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Upload `files` and commit their rows and outbox events in one transaction.

    Per-file read failures are rejected (reported) and do not stop the batch. An object-store
    failure aborts the batch before anything is committed: blobs already written for it are
    deleted, and no row or event exists.
    """
    validate_uploader(uploaded_by, description)
    result = IngestResult()
    done = 0

    def store(path: Path) -> FileMetadata | Rejected:
        try:
            return _store_blob(storage, path, uploaded_by, description)
        except OSError as exc:
            return Rejected(str(path), f"cannot read file: {exc.strerror or exc}")

    stored: list[FileMetadata] = []
    failure: FilePipelineError | None = None
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(store, path) for path in files]
        for future in futures:
            try:
                outcome = future.result()
            except ObjectStoreError as exc:
                failure = failure or exc
                continue
            if isinstance(outcome, Rejected):
                result.rejected.append(outcome)
                log.warning("rejected %s: %s", outcome.path, outcome.reason)
            else:
                stored.append(outcome)
            done += 1
            if on_progress:
                on_progress(done, len(files))

    if failure is not None:
        _delete_blobs(storage, stored, log)
        raise failure

    try:
        with postgres.connection() as conn, conn.transaction():
            for meta in stored:
                event = new_event(EventType.UPLOADED, meta, meta.uploaded_at or 0)
                queries.insert_file_with_event(conn, meta, event, topic, run_id)
    except Exception:
        log.error("database write failed; removing %d blobs written for this batch", len(stored))
        _delete_blobs(storage, stored, log)
        raise
    result.stored = stored
    return result


def _delete_blobs(
    storage: ObjectStorageResource,
    stored: Sequence[FileMetadata],
    log: logging.Logger | logging.LoggerAdapter,
) -> None:
    """Best effort: what cannot be deleted now is an orphan that reconciliation removes later."""
    for meta in stored:
        try:
            storage.delete(meta.s3_key)
        except ObjectStoreError as exc:
            log.warning(
                "could not delete orphan blob %s (reconciliation will): %s", meta.s3_key, exc
            )
