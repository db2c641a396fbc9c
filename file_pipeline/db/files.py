"""SQL on the `files` table. Every function takes an open psycopg connection and leaves
transaction boundaries to the caller, so a `files` row and its outbox row commit together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from file_pipeline.db.outbox import enqueue_events
from file_pipeline.events.schema import FileEvent, FileMetadata
from file_pipeline.states import FileStatus

Row = dict[str, Any]


def insert_files_with_events(
    conn: psycopg.Connection,
    files: Sequence[tuple[FileMetadata, FileEvent]],
    topic: str,
    upload_run_id: str | None,
) -> set[str]:
    """Write `files` rows and their outbox rows, in two round trips for the whole batch (call
    inside one transaction). Returns the ids written: a file whose user already has a live file
    with these bytes (a concurrent upload committed first) is skipped, with no event."""
    if not files:
        return set()
    inserted: set[str] = set()
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO files (id, filename, s3_key, s3_url, file_size, content_type,"
            " uploaded_by, uploaded_at, description, sha256, upload_run_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (uploaded_by, sha256) WHERE deleted_at IS NULL DO NOTHING RETURNING id",
            [
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
                )
                for file, _ in files
            ],
            returning=True,
        )
        while True:
            row = cur.fetchone()
            if row is not None:
                inserted.add(row[0])
            if not cur.nextset():
                break
    enqueue_events(conn, [event for file, event in files if file.id in inserted], topic)
    return inserted


def row_to_metadata(row: Row) -> FileMetadata:
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


def get_file(conn: psycopg.Connection, file_id: str) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM files WHERE id = %s", (file_id,)).fetchone()


def get_files(conn: psycopg.Connection, file_ids: Sequence[str]) -> dict[str, Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT * FROM files WHERE id = ANY(%s)", (list(file_ids),)).fetchall()
    return {row["id"]: row for row in rows}


def upload_runs_of(conn: psycopg.Connection, file_ids: Sequence[str]) -> dict[str, str | None]:
    """The upload run of each known file id (files with no row are absent)."""
    rows = conn.execute(
        "SELECT id, upload_run_id FROM files WHERE id = ANY(%s)", (list(file_ids),)
    ).fetchall()
    return dict(rows)


def lock_file(conn: psycopg.Connection, file_id: str) -> Row | None:
    """The row, locked against concurrent deletes until the transaction ends."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM files WHERE id = %s FOR UPDATE", (file_id,)).fetchone()


def share_lock_file(conn: psycopg.Connection, file_id: str) -> Row | None:
    """The row as it is now, with a share lock: a delete waits until this transaction ends, so
    outputs written under it are either seen by the delete or not written at all."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM files WHERE id = %s FOR SHARE", (file_id,)).fetchone()


def mark_deleted(conn: psycopg.Connection, file_id: str) -> None:
    conn.execute(
        "UPDATE files SET status = %s, deleted_at = now(), updated_at = now() WHERE id = %s",
        (FileStatus.DELETED.value, file_id),
    )


def list_files(
    conn: psycopg.Connection,
    uploaded_by: str | None,
    limit: int,
    include_deleted: bool = False,
    sensitive: str | None = None,
) -> list[Row]:
    """Newest first. `sensitive`: only files whose text holds that kind of sensitive data
    ("any": of any kind)."""
    clauses: list[str] = []
    params: list[object] = []
    if uploaded_by is not None:
        clauses.append("uploaded_by = %s")
        params.append(uploaded_by)
    if sensitive == "any":
        clauses.append("sensitive_data <> '{}'::jsonb")
    elif sensitive is not None:
        clauses.append("sensitive_data ? %s")
        params.append(sensitive)
    if not include_deleted:
        clauses.append("deleted_at IS NULL")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT * FROM files {where} ORDER BY created_at DESC LIMIT %s", (*params, limit)
        ).fetchall()


def live_upload_keys(conn: psycopg.Connection) -> dict[str, list[Row]]:
    """Every key a live row or a deleted row points at, with its rows (a seed key can be shared
    by several rows): what reconciliation compares the bucket against."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT id, s3_key, status, deleted_at, created_at FROM files"
        ).fetchall()
    by_key: dict[str, list[Row]] = {}
    for row in rows:
        by_key.setdefault(row["s3_key"], []).append(row)
    return by_key


def live_rows_with_key(conn: psycopg.Connection, key: str, *, excluding: str) -> list[str]:
    """Ids of other live rows pointing at `key` (the seed's keys can be shared by rows)."""
    rows = conn.execute(
        "SELECT id FROM files WHERE s3_key = %s AND id <> %s AND deleted_at IS NULL",
        (key, excluding),
    ).fetchall()
    return [row[0] for row in rows]


def file_states(conn: psycopg.Connection) -> dict[str, Row]:
    """id -> (status, deleted_at) of every row, for reconciling derived objects."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT id, status, deleted_at FROM files").fetchall()
    return {row["id"]: row for row in rows}


def set_scan_verdict(
    conn: psycopg.Connection,
    file_id: str,
    status: FileStatus,
    *,
    signature: str | None,
    engine: str,
    version: str | None,
    s3_key: str | None = None,
    s3_url: str | None = None,
) -> None:
    """Record a scan verdict; an infected file's row follows its blob into quarantine/."""
    conn.execute(
        "UPDATE files SET status = %s, scan_signature = %s, scan_engine = %s, scan_version = %s,"
        " scanned_at = now(), s3_key = coalesce(%s, s3_key), s3_url = coalesce(%s, s3_url),"
        " updated_at = now() WHERE id = %s AND deleted_at IS NULL",
        (status.value, signature, engine, version, s3_key, s3_url, file_id),
    )


def set_sha256(conn: psycopg.Connection, file_id: str, sha256: str) -> None:
    """Store the hash of a row that arrived without one (the seed's producer sends none)."""
    conn.execute(
        "UPDATE files SET sha256 = %s, updated_at = now() WHERE id = %s AND sha256 IS NULL",
        (sha256, file_id),
    )


def processed_ids(conn: psycopg.Connection, file_ids: Sequence[str]) -> set[str]:
    """Which of these files reached their final state."""
    rows = conn.execute(
        "SELECT id FROM files WHERE id = ANY(%s) AND processed_at IS NOT NULL", (list(file_ids),)
    ).fetchall()
    return {row[0] for row in rows}


def mark_processed(conn: psycopg.Connection, file_id: str) -> None:
    """The file reached its final state (first time only: `processed_at` is when it did)."""
    conn.execute(
        "UPDATE files SET processed_at = coalesce(processed_at, now()) WHERE id = %s", (file_id,)
    )


def search(conn: psycopg.Connection, query: str, uploaded_by: str | None, limit: int) -> list[Row]:
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


def insert_share(conn: psycopg.Connection, file_id: str, shared_with: str, event_id: str) -> bool:
    """Record that `file_id` is shared with `shared_with`; False if it already was."""
    return (
        conn.execute(
            "INSERT INTO file_shares (file_id, shared_with, event_id) VALUES (%s, %s, %s)"
            " ON CONFLICT (file_id, shared_with) DO NOTHING",
            (file_id, shared_with, event_id),
        ).rowcount
        == 1
    )


def shares_of(conn: psycopg.Connection, file_id: str) -> list[str]:
    """Who the file is shared with, in the order it was shared."""
    rows = conn.execute(
        "SELECT shared_with FROM file_shares WHERE file_id = %s ORDER BY created_at, shared_with",
        (file_id,),
    ).fetchall()
    return [row[0] for row in rows]
