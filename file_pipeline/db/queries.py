"""SQL against the application database. Every function takes an open psycopg connection and
leaves transaction boundaries to the caller, so a `files` row and its outbox row commit together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from file_pipeline.events import FileEvent, FileMetadata
from file_pipeline.processing.exif import ExifResult


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event_id: str
    topic: str
    message_key: str
    payload: str


def insert_file_with_event(
    conn: psycopg.Connection,
    file: FileMetadata,
    event: FileEvent,
    topic: str,
    upload_run_id: str | None,
) -> bool:
    """Write a `files` row and its outbox row (call inside one transaction).

    Returns False, writing nothing, when the same user already has a live file with these bytes.
    """
    inserted = conn.execute(
        "INSERT INTO files (id, filename, s3_key, s3_url, file_size, content_type, uploaded_by,"
        " uploaded_at, description, sha256, upload_run_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (uploaded_by, sha256) WHERE deleted_at IS NULL DO NOTHING RETURNING id",
        (
            file.id,
            file.filename,
            file.s3_key,
            file.s3_url,
            file.file_size,
            file.content_type,
            file.uploaded_by,
            file.uploaded_at,
            file.description,
            file.sha256,
            upload_run_id,
        ),
    ).fetchone()
    if inserted is None:
        return False
    enqueue_event(conn, event, topic)
    return True


def row_to_metadata(row: dict[str, Any]) -> FileMetadata:
    return FileMetadata(
        id=row["id"],
        filename=row["filename"],
        s3_key=row["s3_key"],
        s3_url=row["s3_url"],
        file_size=row["file_size"],
        content_type=row["content_type"],
        uploaded_by=row["uploaded_by"],
        uploaded_at=row["uploaded_at"],
        description=row["description"],
        sha256=row["sha256"],
    )


def live_files_by_sha256(
    conn: psycopg.Connection, uploaded_by: str, sha256s: Sequence[str]
) -> dict[str, FileMetadata]:
    """The user's live files with any of these hashes, by hash."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM files WHERE uploaded_by = %s AND sha256 = ANY(%s)"
            " AND deleted_at IS NULL",
            (uploaded_by, list(sha256s)),
        ).fetchall()
    return {row["sha256"]: row_to_metadata(row) for row in rows}


def enqueue_event(conn: psycopg.Connection, event: FileEvent, topic: str) -> None:
    conn.execute(
        "INSERT INTO outbox (event_id, topic, message_key, payload, file_id, event_type)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (
            event.event_id,
            topic,
            event.message_key,
            event.to_json(),
            event.file.id,
            event.event_type.value,
        ),
    )


def claim_unsent_events(conn: psycopg.Connection, limit: int) -> list[OutboxRow]:
    """Lock up to `limit` unsent outbox rows, oldest first; concurrent relays skip locked rows."""
    rows = conn.execute(
        "SELECT id, event_id::text, topic, message_key, payload FROM outbox"
        " WHERE sent_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
        (limit,),
    ).fetchall()
    return [OutboxRow(*row) for row in rows]


def mark_events_sent(conn: psycopg.Connection, sent: Iterable[tuple[int, int, int]]) -> None:
    """Mark outbox rows sent: (outbox id, partition, offset) per row."""
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE outbox SET sent_at = now(), kafka_partition = %s, kafka_offset = %s,"
            " attempts = attempts + 1 WHERE id = %s",
            [(partition, offset, outbox_id) for outbox_id, partition, offset in sent],
        )


def mark_events_failed(conn: psycopg.Connection, failed: Iterable[tuple[int, str]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE outbox SET attempts = attempts + 1, last_error = %s WHERE id = %s",
            [(error, outbox_id) for outbox_id, error in failed],
        )


def count_unsent_events(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]


def get_file(conn: psycopg.Connection, file_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM files WHERE id = %s", (file_id,)).fetchone()


def lock_file(conn: psycopg.Connection, file_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM files WHERE id = %s FOR UPDATE", (file_id,)).fetchone()


def mark_deleted(conn: psycopg.Connection, file_id: str) -> None:
    conn.execute(
        "UPDATE files SET status = 'deleted', deleted_at = now(), updated_at = now() WHERE id = %s",
        (file_id,),
    )


def list_files(
    conn: psycopg.Connection, uploaded_by: str | None, limit: int, include_deleted: bool = False
) -> list[dict[str, Any]]:
    clauses, params = [], []
    if uploaded_by is not None:
        clauses.append("uploaded_by = %s")
        params.append(uploaded_by)
    if not include_deleted:
        clauses.append("deleted_at IS NULL")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT * FROM files {where} ORDER BY created_at DESC LIMIT %s", (*params, limit)
        ).fetchall()


def file_history(conn: psycopg.Connection, file_id: str) -> dict[str, list[dict[str, Any]]]:
    """Events and processing outcomes of one file: `file-pipeline files show`."""
    with conn.cursor(row_factory=dict_row) as cur:
        events = cur.execute(
            "SELECT event_id::text, event_type, created_at, sent_at, kafka_partition, kafka_offset,"
            " attempts, last_error FROM outbox WHERE file_id = %s ORDER BY id",
            (file_id,),
        ).fetchall()
        results = cur.execute(
            "SELECT step, outcome, detail, source_event, processing_run_id, updated_at"
            " FROM processing_results WHERE file_id = %s ORDER BY step",
            (file_id,),
        ).fetchall()
    return {"events": events, "results": results}


def live_rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, s3_key, created_at FROM files WHERE deleted_at IS NULL"
        ).fetchall()


def get_files(conn: psycopg.Connection, file_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT * FROM files WHERE id = ANY(%s)", (list(file_ids),)).fetchall()
    return {row["id"]: row for row in rows}


def upsert_exif(
    conn: psycopg.Connection, file_id: str, exif: ExifResult, source_event: str, run_id: str | None
) -> None:
    conn.execute(
        "INSERT INTO exif_metadata (file_id, width, height, image_format, camera_make,"
        " camera_model, taken_at, orientation, gps_latitude, gps_longitude, exif, source_event,"
        " processing_run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (file_id) DO UPDATE SET width = EXCLUDED.width, height = EXCLUDED.height,"
        " image_format = EXCLUDED.image_format, camera_make = EXCLUDED.camera_make,"
        " camera_model = EXCLUDED.camera_model, taken_at = EXCLUDED.taken_at,"
        " orientation = EXCLUDED.orientation, gps_latitude = EXCLUDED.gps_latitude,"
        " gps_longitude = EXCLUDED.gps_longitude, exif = EXCLUDED.exif,"
        " source_event = EXCLUDED.source_event, processing_run_id = EXCLUDED.processing_run_id,"
        " extracted_at = now()",
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
            json.dumps(exif.tags, default=str).replace("\\u0000", ""),
            source_event,
            run_id,
        ),
    )


def record_result(
    conn: psycopg.Connection,
    file_id: str,
    step: str,
    outcome: str,
    detail: str | None,
    source_event: str,
    run_id: str | None,
    attempts: int = 1,
) -> None:
    """Upsert one processing step's outcome for a file (idempotent per file and step)."""
    conn.execute(
        "INSERT INTO processing_results (file_id, step, outcome, detail, source_event,"
        " processing_run_id, attempts) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (file_id, step) DO UPDATE SET outcome = EXCLUDED.outcome,"
        " detail = EXCLUDED.detail, source_event = EXCLUDED.source_event,"
        " processing_run_id = EXCLUDED.processing_run_id, attempts = EXCLUDED.attempts,"
        " updated_at = now()",
        (file_id, step, outcome, detail, source_event, run_id, attempts),
    )


def set_scan_verdict(
    conn: psycopg.Connection,
    file_id: str,
    status: str,
    signature: str | None,
    engine: str,
    s3_key: str | None = None,
    s3_url: str | None = None,
) -> None:
    """Record a scan verdict; an infected file's row follows its blob into quarantine/."""
    conn.execute(
        "UPDATE files SET status = %s, scan_signature = %s, scan_engine = %s, scanned_at = now(),"
        " s3_key = coalesce(%s, s3_key), s3_url = coalesce(%s, s3_url), updated_at = now()"
        " WHERE id = %s AND deleted_at IS NULL",
        (status, signature, engine, s3_key, s3_url, file_id),
    )


def upsert_thumbnail(
    conn: psycopg.Connection,
    file_id: str,
    rendition: str,
    s3_key: str,
    content_type: str,
    width: int,
    height: int,
    byte_size: int,
) -> None:
    conn.execute(
        "INSERT INTO thumbnails (file_id, rendition, s3_key, content_type, width, height,"
        " byte_size) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (file_id, rendition)"
        " DO UPDATE SET s3_key = EXCLUDED.s3_key, content_type = EXCLUDED.content_type,"
        " width = EXCLUDED.width, height = EXCLUDED.height, byte_size = EXCLUDED.byte_size,"
        " created_at = now()",
        (file_id, rendition, s3_key, content_type, width, height, byte_size),
    )


def delete_derived(conn: psycopg.Connection, file_id: str, table: str) -> int:
    """Remove a file's rows from one derived-output table (thumbnails, search_index, exif)."""
    if table not in ("thumbnails", "search_index", "exif_metadata"):
        raise ValueError(f"not a derived-output table: {table}")
    return conn.execute(f"DELETE FROM {table} WHERE file_id = %s", (file_id,)).rowcount


def upsert_search_document(
    conn: psycopg.Connection,
    file_id: str,
    filename: str,
    uploaded_by: str,
    content_type: str | None,
    body: str,
) -> None:
    conn.execute(
        "INSERT INTO search_index (file_id, filename, uploaded_by, content_type, body)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (file_id) DO UPDATE SET"
        " filename = EXCLUDED.filename, uploaded_by = EXCLUDED.uploaded_by,"
        " content_type = EXCLUDED.content_type, body = EXCLUDED.body, indexed_at = now()",
        (file_id, filename, uploaded_by, content_type, body),
    )


def search(
    conn: psycopg.Connection, query: str, uploaded_by: str | None, limit: int
) -> list[dict[str, Any]]:
    """Full-text search over filenames (weight A) and extracted text (weight B), best first."""
    user_clause = "AND s.uploaded_by = %(user)s" if uploaded_by is not None else ""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT s.file_id, s.filename, s.uploaded_by, s.content_type,"
            " ts_rank_cd(s.document, q) AS rank,"
            " ts_headline('english', s.body, q, 'MaxFragments=1, MaxWords=12, MinWords=4')"
            " AS snippet"
            " FROM search_index s JOIN files f ON f.id = s.file_id,"
            " websearch_to_tsquery('english', %(query)s) q"
            f" WHERE s.document @@ q AND f.deleted_at IS NULL AND f.status = 'clean' {user_clause}"
            " ORDER BY rank DESC, s.filename LIMIT %(limit)s",
            {"query": query, "user": uploaded_by, "limit": limit},
        ).fetchall()


def step_outcomes(conn: psycopg.Connection, file_id: str, source_event: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT step, outcome FROM processing_results WHERE file_id = %s AND source_event = %s",
        (file_id, source_event),
    ).fetchall()
    return dict(rows)


def insert_notification(
    conn: psycopg.Connection,
    file_id: str,
    source_event: str,
    kind: str,
    recipient: str,
    message: str,
    payload: str,
) -> bool:
    """One notification per file and event; False when it already exists (redelivery)."""
    inserted = conn.execute(
        "INSERT INTO notifications (file_id, source_event, kind, recipient, message, payload)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (file_id, source_event) DO NOTHING"
        " RETURNING id",
        (file_id, source_event, kind, recipient, message, payload),
    ).fetchone()
    return inserted is not None


def unpublished_notifications(conn: psycopg.Connection, limit: int) -> list[tuple[int, str, str]]:
    return conn.execute(
        "SELECT id, file_id, payload FROM notifications WHERE published_at IS NULL"
        " ORDER BY id LIMIT %s",
        (limit,),
    ).fetchall()


def mark_notifications_published(conn: psycopg.Connection, ids: Sequence[int]) -> None:
    conn.execute("UPDATE notifications SET published_at = now() WHERE id = ANY(%s)", (list(ids),))


def mark_processed(conn: psycopg.Connection, file_id: str) -> None:
    conn.execute(
        "UPDATE files SET processed_at = coalesce(processed_at, now()) WHERE id = %s", (file_id,)
    )
