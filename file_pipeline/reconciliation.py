"""Reconciling object storage with the `files` table.

- An upload blob with no row, older than a grace period, is an orphan from a crash between the
  blob write and the row's commit: it is removed. (Younger ones may belong to an upload whose
  transaction is still open.)
- Objects of a deleted row that are still there (a delete whose object removal failed) are removed.
- A live row whose blob is missing is reported, never changed: a person decides what it means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from file_pipeline.db import queries
from file_pipeline.ingest import Logger
from file_pipeline.resources.postgres import PostgresResource
from file_pipeline.resources.storage import ObjectStorageResource

UPLOAD_PREFIX = "uploads/"
QUARANTINE_PREFIX = "quarantine/"


@dataclass
class ReconcileResult:
    blobs_checked: int = 0
    orphans_removed: list[str] = field(default_factory=list)
    orphans_in_grace: list[str] = field(default_factory=list)
    deleted_leftovers_removed: list[str] = field(default_factory=list)
    rows_missing_blob: list[str] = field(default_factory=list)


def _file_id_of(key: str) -> str | None:
    parts = key.split("/")
    return parts[2] if len(parts) >= 4 and parts[0] == "uploads" else None


def reconcile(
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    *,
    grace_seconds: int,
    log: Logger,
    dry_run: bool = False,
) -> ReconcileResult:
    result = ReconcileResult()
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=grace_seconds)
    blobs = list(storage.list_objects(UPLOAD_PREFIX))
    result.blobs_checked = len(blobs)
    listed = {obj["Key"] for obj in blobs} | set(storage.list_keys(QUARANTINE_PREFIX))
    with postgres.connection() as conn:
        ids = {fid for obj in blobs if (fid := _file_id_of(obj["Key"]))}
        rows = queries.get_files(conn, list(ids))
        live = queries.live_rows(conn)
    for obj in blobs:
        key = obj["Key"]
        row = rows.get(_file_id_of(key) or "")
        if row is not None and row["s3_key"] == key and row["deleted_at"] is None:
            continue
        if row is not None and row["deleted_at"] is not None:
            target = result.deleted_leftovers_removed
        elif obj["LastModified"] < cutoff:
            target = result.orphans_removed
        else:
            result.orphans_in_grace.append(key)
            continue
        if not dry_run:
            storage.delete(key)
        target.append(key)
        log.info(f"removed {key} ({'deleted row' if row is not None else 'no row'})")
    result.rows_missing_blob = [row["id"] for row in live if row["s3_key"] not in listed]
    for file_id in result.rows_missing_blob:
        log.warning(f"file {file_id} has a live row but no blob")
    return result
