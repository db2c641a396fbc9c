"""SQL behind the data-health asset checks."""

from __future__ import annotations

import psycopg

from file_pipeline.states import FileStatus


def late_files(conn: psycopg.Connection, older_than_minutes: int, limit: int = 100) -> list[str]:
    """Live files uploaded longer ago than that and still without a final state."""
    rows = conn.execute(
        "SELECT id FROM files WHERE deleted_at IS NULL AND processed_at IS NULL"
        " AND created_at < now() - make_interval(mins => %s) ORDER BY created_at LIMIT %s",
        (older_than_minutes, limit),
    ).fetchall()
    return [row[0] for row in rows]


def infected_files(conn: psycopg.Connection) -> list[tuple[str, str, bool, bool]]:
    """(id, key, in the search index, has rendition rows) of every live infected file."""
    return conn.execute(
        "SELECT f.id, f.s3_key,"
        " EXISTS (SELECT 1 FROM search_index s WHERE s.file_id = f.id),"
        " EXISTS (SELECT 1 FROM thumbnails t WHERE t.file_id = f.id)"
        " FROM files f WHERE f.status = %s AND f.deleted_at IS NULL",
        (FileStatus.INFECTED.value,),
    ).fetchall()
