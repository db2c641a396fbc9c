"""SQL behind the statistics (`file_statistics`, `file-pipeline stats`)."""

from __future__ import annotations

from typing import Any

import psycopg


def file_facts(conn: psycopg.Connection) -> tuple[list[str], list[tuple[Any, ...]]]:
    """One row per file: owner, type, size, status, deleted, upload-to-processed seconds."""
    cur = conn.execute(
        "SELECT uploaded_by, coalesce(content_type, 'unknown') AS content_type, file_size, status,"
        " deleted_at IS NOT NULL AS deleted,"
        " extract(epoch FROM processed_at - created_at::timestamptz)::float AS latency_seconds"
        " FROM files"
    )
    return [c.name for c in cur.description], cur.fetchall()


def output_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Events sent and unsent, rows in each output table, downloads handed out (DOWNLOADED
    events) and shares."""
    names = ("events_sent", "events_unsent", "exif_rows", "thumbnails", "indexed_files")
    values = conn.execute(
        "SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL),"
        " (SELECT count(*) FROM outbox WHERE sent_at IS NULL),"
        " (SELECT count(*) FROM exif_metadata),"
        " (SELECT count(*) FROM thumbnails),"
        " (SELECT count(*) FROM search_index)"
    ).fetchone()
    counts = dict(zip(names, values, strict=True))
    counts["notifications"] = conn.execute("SELECT count(*) FROM notifications").fetchone()[0]
    downloads, shares = conn.execute(
        "SELECT (SELECT count(*) FROM outbox WHERE event_type = 'DOWNLOADED'),"
        " (SELECT count(*) FROM file_shares)"
    ).fetchone()
    counts["downloads"], counts["shares"] = downloads, shares
    return counts


def sensitive_data_files(conn: psycopg.Connection) -> tuple[int, dict[str, int]]:
    """Live files whose text holds sensitive data: how many in all, and how many per kind."""
    flagged = conn.execute(
        "SELECT count(*) FROM files WHERE deleted_at IS NULL AND sensitive_data <> '{}'::jsonb"
    ).fetchone()[0]
    per_kind = conn.execute(
        "SELECT kind, count(*) FROM files, jsonb_object_keys(sensitive_data) AS kind"
        " WHERE deleted_at IS NULL AND jsonb_typeof(sensitive_data) = 'object'"
        " GROUP BY kind ORDER BY kind"
    ).fetchall()
    return flagged, dict(per_kind)
