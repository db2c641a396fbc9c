"""Ingesting local files: blob first under a fresh key, then `files` + outbox rows in one
transaction.

A crash between the two steps leaves only a blob with no row, which reconciliation sweeps; it can
never leave a row (or an event) pointing at a missing blob. Identical bytes uploaded again by the
same user resolve to the existing file: no second blob, row or event.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from file_pipeline.db import files as file_rows
from file_pipeline.errors import InvalidUploadError, ObjectStoreError
from file_pipeline.events.schema import EventType, FileMetadata, new_event
from file_pipeline.log import Logger
from file_pipeline.upload import keys
from file_pipeline.upload.content_types import SNIFF_BYTES, detect_content_type
from file_pipeline.upload.local_files import Rejected

if TYPE_CHECKING:
    from file_pipeline.resources.postgres import PostgresResource
    from file_pipeline.resources.storage import ObjectStorageResource

MAX_USER_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 4000
HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LocalFile:
    """A local file's content facts, read before anything is uploaded."""

    path: Path
    size: int
    mtime_ns: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class AlreadyStored:
    """A requested path whose bytes the user already has stored (earlier, or earlier in this
    very batch): it resolves to that file, with no second blob, row or event."""

    path: str
    file: FileMetadata


@dataclass
class IngestResult:
    """Every requested file ends in exactly one of these lists."""

    stored: list[FileMetadata] = field(default_factory=list)
    existing: list[AlreadyStored] = field(default_factory=list)
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


def inspect_file(path: Path) -> LocalFile:
    """Hash the file and detect its type from its first bytes (one streaming read)."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    mtime_ns = path.stat().st_mtime_ns
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            digest.update(chunk)
            size += len(chunk)
    if path.stat().st_mtime_ns != mtime_ns:
        raise OSError(f"{path} changed while it was being read")
    return LocalFile(path, size, mtime_ns, digest.hexdigest(), detect_content_type(head, path.name))


def _metadata(
    local: LocalFile, storage: ObjectStorageResource, uploaded_by: str, description: str | None
) -> FileMetadata:
    file_id = str(uuid.uuid4())
    key = keys.upload_key(uploaded_by, file_id, local.path.name)
    return FileMetadata(
        id=file_id,
        filename=local.path.name,
        s3_key=key,
        s3_url=storage.object_url(key),
        file_size=local.size,
        content_type=local.content_type,
        uploaded_by=uploaded_by,
        uploaded_at=int(time.time() * 1000),
        description=description,
        sha256=local.sha256,
    )


def _parallel(
    func: Callable[[Path], object], items: Sequence[Path], concurrency: int
) -> list[object]:
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(func, item) for item in items]
        return [f.result() for f in futures]


def ingest_files(
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    files: Sequence[Path],
    *,
    uploaded_by: str,
    description: str | None,
    topic: str,
    run_id: str | None,
    log: Logger,
    concurrency: int = 8,
    on_progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Upload `files` and commit their rows and outbox events in one transaction.

    Per-file read failures are rejected (reported) and do not stop the batch. An object-store
    failure aborts the batch before anything is committed: blobs already written for it are
    deleted, and no row or event exists.
    """
    validate_uploader(uploaded_by, description)
    result = IngestResult()

    def inspect(path: Path) -> LocalFile | Rejected:
        try:
            return inspect_file(path)
        except OSError as exc:
            return Rejected(str(path), f"cannot read file: {exc.strerror or exc}")

    locals_: list[LocalFile] = []
    for outcome in _parallel(inspect, files, concurrency):
        if isinstance(outcome, Rejected):
            result.rejected.append(outcome)
            log.warning(f"rejected {outcome.path}: {outcome.reason}")
        else:
            assert isinstance(outcome, LocalFile)
            locals_.append(outcome)

    # Identical bytes: within this batch once, and against what the user already stored.
    unique: dict[str, LocalFile] = {}
    for local in locals_:
        unique.setdefault(local.sha256, local)
    duplicates = [local for local in locals_ if unique[local.sha256] is not local]
    with postgres.connection() as conn:
        already = file_rows.live_files_by_sha256(conn, uploaded_by, list(unique))
    result.existing = [
        AlreadyStored(str(local.path), already[sha])
        for sha, local in unique.items()
        if sha in already
    ]
    to_upload = [local for sha, local in unique.items() if sha not in already]
    planned = {
        local.sha256: _metadata(local, storage, uploaded_by, description) for local in to_upload
    }

    done = 0

    def upload(local: LocalFile) -> FileMetadata | Rejected:
        meta = planned[local.sha256]
        try:
            storage.upload_file(local.path, meta.s3_key, local.content_type)
            after = local.path.stat()
        except OSError as exc:
            return Rejected(str(local.path), f"cannot read file: {exc.strerror or exc}")
        if (after.st_size, after.st_mtime_ns) != (local.size, local.mtime_ns):
            storage.delete(meta.s3_key)
            return Rejected(str(local.path), "file changed while it was being uploaded")
        return meta

    uploaded: list[FileMetadata] = []
    failure: ObjectStoreError | None = None
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(upload, local) for local in to_upload]
        for future in futures:
            try:
                outcome = future.result()
            except ObjectStoreError as exc:
                failure = failure or exc
                continue
            if isinstance(outcome, Rejected):
                result.rejected.append(outcome)
                log.warning(f"rejected {outcome.path}: {outcome.reason}")
            else:
                uploaded.append(outcome)
            done += 1
            if on_progress:
                on_progress(done, len(to_upload))

    if failure is not None:
        _delete_blobs(storage, uploaded, log)
        raise failure

    try:
        with postgres.connection() as conn, conn.transaction():
            written = file_rows.insert_files_with_events(
                conn,
                [(m, new_event(EventType.UPLOADED, m, m.uploaded_at or 0)) for m in uploaded],
                topic,
                run_id,
            )
            for meta in uploaded:
                if meta.id in written:
                    result.stored.append(meta)
                    continue
                # A concurrent upload of the same bytes by the same user committed first.
                storage.delete(meta.s3_key)
                winner = file_rows.live_files_by_sha256(conn, uploaded_by, [meta.sha256 or ""])
                path = str(unique[meta.sha256 or ""].path)
                result.existing.extend(AlreadyStored(path, w) for w in winner.values())
    except Exception:
        log.error(f"database write failed; removing {len(uploaded)} blobs written for this batch")
        result.stored = []
        _delete_blobs(storage, uploaded, log)
        raise
    _resolve_duplicates(result, duplicates, unique)
    return result


def _resolve_duplicates(
    result: IngestResult, duplicates: list[LocalFile], unique: dict[str, LocalFile]
) -> None:
    """A path with the same bytes as another of the batch resolves to the file those bytes are
    stored as; if they were not stored (that path was rejected), it is rejected too."""
    stored = {meta.sha256: meta for meta in result.stored}
    stored.update({entry.file.sha256: entry.file for entry in result.existing})
    for local in duplicates:
        file = stored.get(local.sha256)
        if file is not None:
            result.existing.append(AlreadyStored(str(local.path), file))
        else:
            first = unique[local.sha256].path
            result.rejected.append(
                Rejected(str(local.path), f"identical to {first}, which was not stored")
            )


def _delete_blobs(
    storage: ObjectStorageResource, stored: Sequence[FileMetadata], log: Logger
) -> None:
    """Best effort: what cannot be deleted now is an orphan that reconciliation removes later."""
    for meta in stored:
        try:
            storage.delete(meta.s3_key)
        except ObjectStoreError as exc:
            log.warning(f"could not delete orphan blob {meta.s3_key} (reconciliation will): {exc}")
