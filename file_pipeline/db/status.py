"""SQL behind stage status: where each live file stands in each stage, computed in the database
so it scales with the table, not with a Python loop.

A stage's state for a file is one of:
- `done` (or `partial`): made with today's version of the stage;
- `stale`: done, but with another version than today's (the thumbnail sizes changed, the
  signature database was updated, ...);
- `failed`: the stage failed for this file (see the detail and the error type);
- `skipped`: the stage does not apply (not an image, not a clean file);
- `missing`: the stage applies and has no outcome yet (never processed, or processed while the
  file was not yet clean).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from file_pipeline.processing.applicability import applies_sql
from file_pipeline.states import Stage

STATES = ("done", "partial", "stale", "failed", "skipped", "missing")


@dataclass(frozen=True)
class FileFilter:
    """Which live files to look at."""

    file_ids: Sequence[str] | None = None
    uploaded_by: str | None = None
    uploaded_after: datetime | None = None
    uploaded_before: datetime | None = None
    older_than_seconds: float | None = None
    """Only files created longer ago than this (the sweeper leaves files in flight alone)."""


def _files_clause(where: FileFilter) -> tuple[str, dict[str, Any]]:
    clauses = ["f.deleted_at IS NULL"]
    params: dict[str, Any] = {}
    if where.file_ids is not None:
        clauses.append("f.id = ANY(%(ids)s)")
        params["ids"] = list(where.file_ids)
    if where.uploaded_by is not None:
        clauses.append("f.uploaded_by = %(user)s")
        params["user"] = where.uploaded_by
    if where.uploaded_after is not None:
        clauses.append("f.created_at >= %(after)s")
        params["after"] = where.uploaded_after
    if where.uploaded_before is not None:
        clauses.append("f.created_at < %(before)s")
        params["before"] = where.uploaded_before
    if where.older_than_seconds is not None:
        clauses.append("f.created_at < now() - make_interval(secs => %(older)s)")
        params["older"] = where.older_than_seconds
    return " AND ".join(clauses), params


def _states_sql(where: FileFilter, versions: Mapping[Stage, str | None]) -> tuple[str, dict]:
    files_clause, params = _files_clause(where)
    params.update(
        {
            "stages": [stage.value for stage in Stage],
            "scan_version": versions.get(Stage.VIRUS_SCAN),
            "exif_version": versions.get(Stage.EXIF_METADATA),
            "thumbnails_version": versions.get(Stage.THUMBNAILS),
            "search_version": versions.get(Stage.SEARCH_INDEX),
        }
    )
    sql = f"""
        SELECT f.id AS file_id, s.stage, r.outcome, r.detail, r.error_type, r.version,
          CASE
            WHEN s.stage = 'virus_scan' THEN CASE
              WHEN r.outcome IS NULL THEN 'missing'
              WHEN r.outcome = 'failed' THEN 'failed'
              WHEN f.status = 'clean' AND %(scan_version)s::text IS NOT NULL
                AND f.scan_version IS DISTINCT FROM %(scan_version)s::text THEN 'stale'
              WHEN r.outcome IN ('done', 'partial') THEN 'done'
              ELSE 'skipped' END
            WHEN s.stage = 'notifications' THEN CASE
              WHEN r.outcome IS NULL THEN 'missing'
              WHEN r.outcome = 'failed' THEN 'failed'
              ELSE 'done' END
            WHEN f.status <> 'clean'
              OR (s.stage = 'exif_metadata' AND NOT {applies_sql(Stage.EXIF_METADATA)})
              OR (s.stage = 'thumbnails' AND NOT {applies_sql(Stage.THUMBNAILS)})
              THEN 'skipped'
            WHEN r.outcome IS NULL OR r.outcome = 'skipped' THEN 'missing'
            WHEN r.outcome = 'failed' THEN 'failed'
            WHEN r.version IS DISTINCT FROM (CASE s.stage
              WHEN 'exif_metadata' THEN %(exif_version)s::text
              WHEN 'thumbnails' THEN %(thumbnails_version)s::text
              ELSE %(search_version)s::text END) THEN 'stale'
            ELSE r.outcome END AS state
        FROM files f
        CROSS JOIN unnest(%(stages)s::text[]) AS s(stage)
        LEFT JOIN processing_results r ON r.file_id = f.id AND r.stage = s.stage
        WHERE {files_clause}
    """
    return sql, params


def stage_counts(
    conn: psycopg.Connection, versions: Mapping[Stage, str | None], where: FileFilter = FileFilter()
) -> dict[Stage, dict[str, int]]:
    """Per stage, how many live files are in each state."""
    sql, params = _states_sql(where, versions)
    rows = conn.execute(
        f"SELECT stage, state, count(*) FROM ({sql}) states GROUP BY stage, state", params
    ).fetchall()
    counts = {stage: dict.fromkeys(STATES, 0) for stage in Stage}
    for stage, state, count in rows:
        counts[Stage(stage)][state] = count
    return counts


def files_in_state(
    conn: psycopg.Connection,
    versions: Mapping[Stage, str | None],
    stages: Sequence[Stage],
    states: Sequence[str],
    where: FileFilter = FileFilter(),
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Live files with any of `stages` in any of `states`, oldest first, one row per file and
    stage (file_id, filename, uploaded_by, stage, state, detail, error_type, version)."""
    sql, params = _states_sql(where, versions)
    params.update({"want_stages": [s.value for s in stages], "want_states": list(states)})
    limit_clause = "LIMIT %(limit)s" if limit is not None else ""
    params["limit"] = limit
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT st.*, f.filename, f.uploaded_by, f.status, f.created_at FROM ({sql}) st"
            " JOIN files f ON f.id = st.file_id"
            " WHERE st.stage = ANY(%(want_stages)s) AND st.state = ANY(%(want_states)s)"
            f" ORDER BY f.created_at, st.file_id, st.stage {limit_clause}",
            params,
        ).fetchall()


def top_failures(
    conn: psycopg.Connection, limit: int = 10
) -> list[tuple[str, str | None, str, int]]:
    """(stage, error type, reason, files) of live files' failures, most frequent first."""
    return conn.execute(
        "SELECT r.stage, r.error_type, left(r.detail, 160) AS reason, count(*) AS files"
        " FROM processing_results r JOIN files f ON f.id = r.file_id"
        " WHERE r.outcome = 'failed' AND f.deleted_at IS NULL"
        " GROUP BY 1, 2, 3 ORDER BY files DESC, 1 LIMIT %s",
        (limit,),
    ).fetchall()


def live_file_ids(conn: psycopg.Connection, where: FileFilter = FileFilter()) -> list[str]:
    """Ids of live files matching `where`, oldest first."""
    clause, params = _files_clause(where)
    return [
        row[0]
        for row in conn.execute(
            f"SELECT f.id FROM files f WHERE {clause} ORDER BY f.created_at", params
        ).fetchall()
    ]
