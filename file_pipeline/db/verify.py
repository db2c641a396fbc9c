"""SQL behind `file-pipeline verify` and its asset checks: what the rows say should exist, read in
one query per check so it scales with the table, newest files first (recent problems are the
ones a person is looking for, and lists shown to people are cut short)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from file_pipeline.processing.applicability import applies_sql
from file_pipeline.states import FileStatus, Stage

Row = dict[str, Any]

OUTPUT_TABLES = ("exif_metadata", "thumbnails", "search_index")


def live_blobs(conn: psycopg.Connection) -> list[Row]:
    """Every live row's key, recorded size and hash (id, s3_key, file_size, sha256, status)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, s3_key, file_size, sha256, status FROM files WHERE deleted_at IS NULL"
            " ORDER BY created_at DESC, id"
        ).fetchall()


def clean_images(conn: psycopg.Connection) -> list[Row]:
    """Live clean images (and PDFs) the thumbnails stage applies to, with its recorded outcome
    (None: never processed), the age of the row in the database's clock, and the rendition rows
    as {rendition: key}."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT f.id, extract(epoch FROM now() - f.created_at)::float8 AS age_seconds,"
            " r.outcome, r.detail,"
            " (SELECT coalesce(jsonb_object_agg(t.rendition, t.s3_key), '{}'::jsonb)"
            "  FROM thumbnails t WHERE t.file_id = f.id) AS renditions"
            " FROM files f LEFT JOIN processing_results r"
            "  ON r.file_id = f.id AND r.stage = %(stage)s"
            " WHERE f.deleted_at IS NULL AND f.status = %(clean)s"
            f"  AND {applies_sql(Stage.THUMBNAILS)}"
            " ORDER BY f.created_at DESC, f.id",
            {"stage": Stage.THUMBNAILS.value, "clean": FileStatus.CLEAN.value},
        ).fetchall()


def clean_files_indexed(conn: psycopg.Connection) -> list[Row]:
    """Every live clean file (the index applies to all of them: text, or the filename only) with
    the search_index outcome (None: never processed), its age and whether it has its entry."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT f.id, extract(epoch FROM now() - f.created_at)::float8 AS age_seconds,"
            " r.outcome, r.detail,"
            " EXISTS (SELECT 1 FROM search_index s WHERE s.file_id = f.id) AS indexed"
            " FROM files f LEFT JOIN processing_results r"
            "  ON r.file_id = f.id AND r.stage = %(stage)s"
            " WHERE f.deleted_at IS NULL AND f.status = %(clean)s"
            " ORDER BY f.created_at DESC, f.id",
            {"stage": Stage.SEARCH_INDEX.value, "clean": FileStatus.CLEAN.value},
        ).fetchall()


def rendition_keys(conn: psycopg.Connection, file_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """The rendition rows of these files as they are now: file id -> {rendition: key}."""
    rows = conn.execute(
        "SELECT file_id, rendition, s3_key FROM thumbnails WHERE file_id = ANY(%s)",
        (list(file_ids),),
    ).fetchall()
    found: dict[str, dict[str, str]] = {}
    for file_id, rendition, key in rows:
        found.setdefault(file_id, {})[rendition] = key
    return found


def deleted_file_count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM files WHERE deleted_at IS NOT NULL").fetchone()[0]


def outputs_of_deleted_files(conn: psycopg.Connection) -> list[Row]:
    """Deleted files that still have output rows, with how many in each table."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, exif_metadata, thumbnails, search_index FROM ("
            " SELECT f.id, f.deleted_at,"
            "  (SELECT count(*) FROM exif_metadata e WHERE e.file_id = f.id) AS exif_metadata,"
            "  (SELECT count(*) FROM thumbnails t WHERE t.file_id = f.id) AS thumbnails,"
            "  (SELECT count(*) FROM search_index s WHERE s.file_id = f.id) AS search_index"
            " FROM files f WHERE f.deleted_at IS NOT NULL) counted"
            " WHERE exif_metadata + thumbnails + search_index > 0"
            " ORDER BY deleted_at DESC, id"
        ).fetchall()


def delete_outputs_of_deleted_files(conn: psycopg.Connection, file_ids: Sequence[str]) -> int:
    """Remove the output rows of these files, only where the file is deleted (a row that came
    back to life in between keeps its outputs); returns how many rows were removed."""
    conn.execute(
        "UPDATE files SET thumbhash = NULL, sensitive_data = NULL"
        " WHERE deleted_at IS NOT NULL AND id = ANY(%s)",
        (list(file_ids),),
    )
    removed = 0
    for table in OUTPUT_TABLES:
        removed += conn.execute(
            f"DELETE FROM {table} o USING files f WHERE o.file_id = f.id"
            " AND f.deleted_at IS NOT NULL AND f.id = ANY(%s)",
            (list(file_ids),),
        ).rowcount
    return removed
