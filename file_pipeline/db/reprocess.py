"""SQL on reprocess requests and their batches."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg

from file_pipeline.states import Stage


@dataclass(frozen=True)
class Batch:
    id: int
    request_id: int
    batch_no: int
    file_ids: list[str]
    stages: list[Stage]
    force: bool
    source: str


def insert_request(
    conn: psycopg.Connection,
    *,
    source: str,
    stages: Sequence[Stage],
    selection: str,
    force: bool,
    batches: Sequence[Sequence[str]],
    skipped: Mapping[str, int],
) -> int:
    """A request and its batches of file ids (call inside a transaction); returns its id."""
    request_id = conn.execute(
        "INSERT INTO reprocess_requests (source, stages, selection, force, files, skipped)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb) RETURNING id",
        (
            source,
            [stage.value for stage in stages],
            selection,
            force,
            sum(len(batch) for batch in batches),
            json.dumps(dict(skipped)),
        ),
    ).fetchone()[0]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO reprocess_batches (request_id, batch_no, file_ids) VALUES (%s, %s, %s)",
            [(request_id, number, list(batch)) for number, batch in enumerate(batches, 1)],
        )
    return request_id


_BATCHES = (
    "SELECT b.id, b.request_id, b.batch_no, b.file_ids, r.stages, r.force, r.source"
    " FROM reprocess_batches b JOIN reprocess_requests r ON r.id = b.request_id"
)


def _batches(rows: Sequence[tuple]) -> list[Batch]:
    return [
        Batch(id_, request, number, list(ids), [Stage(s) for s in stages], force, source)
        for id_, request, number, ids, stages, force, source in rows
    ]


def batches_after(conn: psycopg.Connection, after_id: int, limit: int) -> list[Batch]:
    """Batches created after batch `after_id`, oldest first (the reprocess sensor's work)."""
    return _batches(
        conn.execute(
            f"{_BATCHES} WHERE b.id > %s ORDER BY b.id LIMIT %s", (after_id, limit)
        ).fetchall()
    )


def request_batches(conn: psycopg.Connection, request_id: int) -> list[Batch]:
    return _batches(
        conn.execute(
            f"{_BATCHES} WHERE b.request_id = %s ORDER BY b.batch_no", (request_id,)
        ).fetchall()
    )


def open_requests_from(conn: psycopg.Connection, source_prefix: str, since_seconds: float) -> int:
    """Requests from a source (e.g. the sweeper) created within the last `since_seconds`."""
    return conn.execute(
        "SELECT count(*) FROM reprocess_requests WHERE source LIKE %s"
        " AND created_at > now() - make_interval(secs => %s)",
        (f"{source_prefix}%", since_seconds),
    ).fetchone()[0]
