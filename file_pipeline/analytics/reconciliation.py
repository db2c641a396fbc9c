"""Reconciling object storage with the `files` table, under every prefix the bucket uses.

- `uploads/`: a blob no row points at, older than a grace period, is an orphan from a crash
  between the blob write and the row's commit (younger ones may belong to an upload whose
  transaction is still open); a blob only deleted rows point at is a leftover of a delete.
- `thumbnails/<file-id>/`: renditions of a file that is deleted, infected or unknown.
- `quarantine/`: infected blobs of deleted rows, or of no row at all.
- A live row whose blob is missing is reported, never changed: a person decides what it means.

Rows are matched by the key they point at (not by parsing ids out of keys), so blobs written by
the seed's client under `uploads/<user>/<filename>` are matched too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from file_pipeline.db import files
from file_pipeline.log import Logger
from file_pipeline.states import FileStatus
from file_pipeline.upload.keys import (
    QUARANTINE_PREFIX,
    THUMBNAILS_PREFIX,
    UPLOADS_PREFIX,
    parse_key,
)

if TYPE_CHECKING:
    from file_pipeline.resources.postgres import PostgresResource
    from file_pipeline.resources.storage import ObjectStorageResource


@dataclass
class ReconcileResult:
    blobs_checked: int = 0
    orphans: list[str] = field(default_factory=list)
    """Objects no row accounts for, past the grace period (removed unless a dry run)."""
    orphans_in_grace: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    """Objects of deleted or infected files that should be gone (removed unless a dry run)."""
    rows_missing_blob: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def removable(self) -> list[str]:
        return [*self.orphans, *self.leftovers]


def reconcile(
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    *,
    grace_seconds: float,
    log: Logger,
    dry_run: bool = False,
) -> ReconcileResult:
    """Compare the bucket with the rows; remove what should not be there (unless `dry_run`)."""
    result = ReconcileResult(dry_run=dry_run)
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=grace_seconds)
    with postgres.connection() as conn:
        rows_by_key = files.live_upload_keys(conn)
        states = files.file_states(conn)
    listed: set[str] = set()
    for prefix in (UPLOADS_PREFIX, QUARANTINE_PREFIX, THUMBNAILS_PREFIX):
        for obj in storage.list_objects(prefix):
            key = obj["Key"]
            listed.add(key)
            result.blobs_checked += 1
            verdict = _judge(key, obj["LastModified"] < cutoff, rows_by_key, states)
            if verdict == "orphan":
                result.orphans.append(key)
            elif verdict == "leftover":
                result.leftovers.append(key)
            elif verdict == "grace":
                result.orphans_in_grace.append(key)
    for key in result.removable:
        if dry_run:
            log.info(f"would remove {key}")
        else:
            storage.delete(key)
            log.info(f"removed {key}")
    result.rows_missing_blob = sorted(
        row["id"]
        for key, rows in rows_by_key.items()
        for row in rows
        if row["deleted_at"] is None and key not in listed
    )
    for file_id in result.rows_missing_blob:
        log.warning(f"file {file_id} has a live row but no blob")
    return result


def _judge(
    key: str,
    past_grace: bool,
    rows_by_key: dict[str, list[dict[str, Any]]],
    states: dict[str, dict[str, Any]],
) -> str:
    """ "keep", "leftover", "orphan" or "grace" for one object."""
    parsed = parse_key(key)
    if key.startswith(THUMBNAILS_PREFIX):
        state = states.get(parsed.file_id or "")
        if state is None:
            return "orphan" if past_grace else "grace"
        live_clean = state["deleted_at"] is None and state["status"] == FileStatus.CLEAN.value
        return "keep" if live_clean else "leftover"
    rows = rows_by_key.get(key, [])
    if any(row["deleted_at"] is None for row in rows):
        return "keep"
    if rows:
        return "leftover"
    return "orphan" if past_grace else "grace"
