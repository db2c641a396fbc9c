"""Reprocessing exactly what an operator means: a selection of files (failed, missing, stale,
all, or explicit ids, optionally one user's or one upload window's) for some stages, turned into
a request of batches that `reprocess_sensor` launches as processing runs. No Dagster here.

Asking for a stage also redoes what depends on it: rescanning redoes every derived stage that is
not current and the notification; redoing thumbnails redoes the notification. A file that is
deleted, infected, or already current for every requested stage is left alone, and the plan
says so, with the reason and how many files it applies to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

import psycopg

from file_pipeline.db import files as file_rows
from file_pipeline.db import reprocess as requests
from file_pipeline.db.status import FileFilter, files_in_state, live_file_ids
from file_pipeline.processing.batch import chunks
from file_pipeline.states import FileStatus, Stage

DEFAULT_BATCH_SIZE = 200
UNSETTLED_STATES = ("failed", "missing", "stale")


class Selection(str, Enum):
    FAILED = "failed"
    MISSING = "missing"
    STALE = "stale"
    ALL = "all"
    IDS = "ids"


@dataclass(frozen=True)
class ReprocessQuery:
    stages: tuple[Stage, ...]
    selection: Selection
    file_ids: tuple[str, ...] = ()
    uploaded_by: str | None = None
    uploaded_after: datetime | None = None
    uploaded_before: datetime | None = None
    force: bool = False

    def describe(self) -> str:
        parts = [self.selection.value, "stages " + ",".join(s.value for s in self.stages)]
        if self.file_ids:
            parts.append(f"{len(self.file_ids)} ids")
        if self.uploaded_by:
            parts.append(f"user {self.uploaded_by}")
        if self.uploaded_after or self.uploaded_before:
            parts.append(f"uploaded {self.uploaded_after or '…'} to {self.uploaded_before or '…'}")
        if self.force:
            parts.append("force")
        return "; ".join(parts)


@dataclass
class ReprocessPlan:
    query: ReprocessQuery
    stages: tuple[Stage, ...]
    """The stages the runs will redo (the requested ones and what depends on them)."""
    file_ids: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    """Why files were left alone, and how many for each reason."""


def expand_stages(stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
    """The requested stages and every stage downstream of them, in pipeline order."""
    wanted = set(stages)
    if Stage.VIRUS_SCAN in wanted:
        wanted.update(Stage)
    if wanted & set(Stage.derived()):
        wanted.add(Stage.NOTIFICATIONS)
    return tuple(stage for stage in Stage if stage in wanted)


def plan_reprocess(
    conn: psycopg.Connection,
    query: ReprocessQuery,
    versions: Mapping[Stage, str | None],
    *,
    older_than: float | None = None,
) -> ReprocessPlan:
    """Which files a query selects, and which it leaves alone (and why). `older_than` keeps
    files uploaded within that many seconds out (they may still be in flight)."""
    plan = ReprocessPlan(query, expand_stages(query.stages))
    where = FileFilter(
        file_ids=list(query.file_ids) if query.file_ids else None,
        uploaded_by=query.uploaded_by,
        uploaded_after=query.uploaded_after,
        uploaded_before=query.uploaded_before,
        older_than_seconds=older_than,
    )
    if query.file_ids:
        known = file_rows.get_files(conn, list(query.file_ids))
        for file_id in dict.fromkeys(query.file_ids):
            row = known.get(file_id)
            if row is None:
                plan.skipped["no such file"] += 1
            elif row["deleted_at"] is not None:
                plan.skipped["deleted"] += 1
    if query.selection in (Selection.FAILED, Selection.MISSING, Selection.STALE):
        rows = files_in_state(conn, versions, query.stages, [query.selection.value], where)
        candidates = list(dict.fromkeys(row["file_id"] for row in rows))
        unsettled = set(candidates)
    else:
        candidates = live_file_ids(conn, where)
        rows = files_in_state(conn, versions, query.stages, UNSETTLED_STATES, where)
        unsettled = {row["file_id"] for row in rows}
    statuses = {
        file_id: row["status"] for file_id, row in file_rows.get_files(conn, candidates).items()
    }
    for file_id in candidates:
        if statuses.get(file_id) == FileStatus.INFECTED.value:
            plan.skipped["infected"] += 1
        elif file_id not in unsettled and not query.force:
            plan.skipped["already current"] += 1
        else:
            plan.file_ids.append(file_id)
    return plan


def request_reprocess(
    conn: psycopg.Connection,
    plan: ReprocessPlan,
    source: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int | None:
    """Record the plan as a request of batches (None when it selects nothing)."""
    if not plan.file_ids:
        return None
    with conn.transaction():
        return requests.insert_request(
            conn,
            source=source,
            stages=plan.stages,
            selection=plan.query.describe(),
            force=plan.query.force,
            batches=list(chunks(plan.file_ids, max(1, batch_size))),
            skipped=plan.skipped,
        )
