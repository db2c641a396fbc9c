"""SQL on what processing produces: per-stage outcomes (`processing_results`), the output
tables (`exif_metadata`, `thumbnails`, `search_index`) and what those stages put on the file's
row (`files.thumbhash`, `files.sensitive_data`). Every write is an upsert keyed by file (and
rendition), so a redelivered event leaves exactly one output per file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from file_pipeline.states import Outcome, Stage


@dataclass(frozen=True)
class StageResult:
    """One stage's outcome for one file, as recorded."""

    file_id: str
    stage: Stage
    outcome: Outcome
    detail: str | None
    source_event: str
    run_id: str | None
    version: str | None = None
    error_type: str | None = None
    attempts: int = 1


class ExifFields(Protocol):
    """What `exif_metadata` stores (`processing.products.ExifResult` has it, already normalised)."""

    width: int
    height: int
    image_format: str
    camera_make: str | None
    camera_model: str | None
    taken_at: datetime | None
    orientation: int | None
    gps_latitude: float | None
    gps_longitude: float | None

    def tags_json(self) -> str: ...


@dataclass(frozen=True)
class ThumbnailRow:
    rendition: str
    s3_key: str
    content_type: str
    width: int
    height: int
    byte_size: int


@dataclass(frozen=True)
class MadeVersions:
    """The versions a file's outputs were made with (None: no output)."""

    exif: str | None
    search_index: str | None
    renditions: dict[str, str | None]

    def stage_versions(self, expected_renditions: set[str]) -> dict[Stage, str | None]:
        """Per stage, the one version its outputs share; thumbnails count only when every
        expected rendition exists (a video has its poster frames besides), made with one
        version."""
        thumbnails = set(self.renditions.values())
        complete = expected_renditions <= set(self.renditions) and len(thumbnails) == 1
        return {
            Stage.EXIF_METADATA: self.exif,
            Stage.SEARCH_INDEX: self.search_index,
            Stage.THUMBNAILS: next(iter(thumbnails)) if complete else None,
        }


def output_versions(conn: psycopg.Connection, file_ids: Sequence[str]) -> dict[str, MadeVersions]:
    """What each file's outputs were made with, in one query."""
    rows = conn.execute(
        "SELECT f.id, e.version, s.version,"
        " (SELECT coalesce(jsonb_object_agg(t.rendition, t.version), '{}'::jsonb)"
        "  FROM thumbnails t WHERE t.file_id = f.id)"
        " FROM files f LEFT JOIN exif_metadata e ON e.file_id = f.id"
        " LEFT JOIN search_index s ON s.file_id = f.id WHERE f.id = ANY(%s)",
        (list(file_ids),),
    ).fetchall()
    return {
        file_id: MadeVersions(exif, search, dict(renditions))
        for file_id, exif, search, renditions in rows
    }


def record_results(conn: psycopg.Connection, results: Sequence[StageResult]) -> None:
    """Upsert stage outcomes (one row per file and stage) in one round trip."""
    if not results:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO processing_results (file_id, stage, outcome, detail, source_event,"
            " processing_run_id, version, error_type, attempts)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (file_id, stage) DO UPDATE SET outcome = EXCLUDED.outcome,"
            " detail = EXCLUDED.detail, source_event = EXCLUDED.source_event,"
            " processing_run_id = EXCLUDED.processing_run_id, version = EXCLUDED.version,"
            " error_type = EXCLUDED.error_type, attempts = EXCLUDED.attempts, updated_at = now()",
            [
                (
                    r.file_id,
                    r.stage.value,
                    r.outcome.value,
                    r.detail,
                    r.source_event,
                    r.run_id,
                    r.version,
                    r.error_type,
                    r.attempts,
                )
                for r in results
            ],
        )


def stage_results(
    conn: psycopg.Connection, file_ids: Sequence[str]
) -> dict[str, dict[Stage, dict[str, Any]]]:
    """The recorded outcome of every stage for these files: file id -> stage -> row."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT file_id, stage, outcome, detail, source_event, processing_run_id, version,"
            " error_type, attempts, updated_at FROM processing_results WHERE file_id = ANY(%s)",
            (list(file_ids),),
        ).fetchall()
    found: dict[str, dict[Stage, dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row["file_id"], {})[Stage(row["stage"])] = row
    return found


def file_results(conn: psycopg.Connection, file_id: str) -> list[dict[str, Any]]:
    """One file's stage outcomes in pipeline order (for `file-pipeline files show`)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT stage, outcome, detail, error_type, version, source_event,"
            " processing_run_id, updated_at FROM processing_results WHERE file_id = %s"
            " ORDER BY array_position(%s::text[], stage)",
            (file_id, [stage.value for stage in Stage]),
        ).fetchall()


def upsert_exif(
    conn: psycopg.Connection,
    file_id: str,
    exif: ExifFields,
    source_event: str,
    run_id: str | None,
    version: str,
) -> None:
    conn.execute(
        "INSERT INTO exif_metadata (file_id, width, height, image_format, camera_make,"
        " camera_model, taken_at, orientation, gps_latitude, gps_longitude, exif, source_event,"
        " processing_run_id, version)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)"
        " ON CONFLICT (file_id) DO UPDATE SET width = EXCLUDED.width, height = EXCLUDED.height,"
        " image_format = EXCLUDED.image_format, camera_make = EXCLUDED.camera_make,"
        " camera_model = EXCLUDED.camera_model, taken_at = EXCLUDED.taken_at,"
        " orientation = EXCLUDED.orientation, gps_latitude = EXCLUDED.gps_latitude,"
        " gps_longitude = EXCLUDED.gps_longitude, exif = EXCLUDED.exif,"
        " source_event = EXCLUDED.source_event, processing_run_id = EXCLUDED.processing_run_id,"
        " version = EXCLUDED.version, extracted_at = now()",
        (
            file_id,
            exif.width,
            exif.height,
            exif.image_format,
            exif.camera_make,
            exif.camera_model,
            exif.taken_at,
            exif.orientation,
            exif.gps_latitude,
            exif.gps_longitude,
            exif.tags_json(),
            source_event,
            run_id,
            version,
        ),
    )


def replace_thumbnails(
    conn: psycopg.Connection,
    file_id: str,
    renditions: Sequence[ThumbnailRow],
    version: str,
    placeholder: str | None = None,
) -> list[str]:
    """Make the file's rendition rows exactly `renditions` and its placeholder `placeholder`;
    returns the keys of rows dropped (renditions no longer configured), whose objects the caller
    removes."""
    conn.execute("UPDATE files SET thumbhash = %s WHERE id = %s", (placeholder, file_id))
    dropped = [
        row[0]
        for row in conn.execute(
            "DELETE FROM thumbnails WHERE file_id = %s AND NOT (rendition = ANY(%s))"
            " RETURNING s3_key",
            (file_id, [r.rendition for r in renditions]),
        ).fetchall()
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO thumbnails (file_id, rendition, s3_key, content_type, width, height,"
            " byte_size, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (file_id, rendition) DO UPDATE SET s3_key = EXCLUDED.s3_key,"
            " content_type = EXCLUDED.content_type, width = EXCLUDED.width,"
            " height = EXCLUDED.height, byte_size = EXCLUDED.byte_size,"
            " version = EXCLUDED.version, created_at = now()",
            [
                (
                    file_id,
                    r.rendition,
                    r.s3_key,
                    r.content_type,
                    r.width,
                    r.height,
                    r.byte_size,
                    version,
                )
                for r in renditions
            ],
        )
    return [key for key in dropped if key not in {r.s3_key for r in renditions}]


def upsert_search_document(
    conn: psycopg.Connection,
    file_id: str,
    *,
    filename: str,
    uploaded_by: str,
    content_type: str | None,
    body: str,
    version: str,
    sensitive_data: dict[str, int] | None = None,
) -> None:
    """The file's search document, and on its row the sensitive-data counts of `body` (None:
    no text was scanned)."""
    conn.execute(
        "UPDATE files SET sensitive_data = %s WHERE id = %s",
        (None if sensitive_data is None else Jsonb(sensitive_data), file_id),
    )
    conn.execute(
        "INSERT INTO search_index (file_id, filename, uploaded_by, content_type, body, version)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (file_id) DO UPDATE SET"
        " filename = EXCLUDED.filename, uploaded_by = EXCLUDED.uploaded_by,"
        " content_type = EXCLUDED.content_type, body = EXCLUDED.body,"
        " version = EXCLUDED.version, indexed_at = now()",
        (file_id, filename, uploaded_by, content_type, body, version),
    )


_OUTPUT_TABLES = {
    Stage.EXIF_METADATA: "exif_metadata",
    Stage.THUMBNAILS: "thumbnails",
    Stage.SEARCH_INDEX: "search_index",
}


_ROW_COLUMNS = {Stage.THUMBNAILS: "thumbhash", Stage.SEARCH_INDEX: "sensitive_data"}


def delete_outputs(conn: psycopg.Connection, file_id: str, stage: Stage) -> int:
    """Remove one stage's output rows of a file (and what it put on the file's row); returns how
    many output rows were removed."""
    column = _ROW_COLUMNS.get(stage)
    if column is not None:
        conn.execute(f"UPDATE files SET {column} = NULL WHERE id = %s", (file_id,))
    table = _OUTPUT_TABLES[stage]
    return conn.execute(f"DELETE FROM {table} WHERE file_id = %s", (file_id,)).rowcount
