"""SQL on `notifications`: one per file and source event, published to Kafka once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from file_pipeline.states import NotificationKind


@dataclass(frozen=True)
class PendingNotification:
    id: int
    file_id: str
    payload: str


def insert_notification(
    conn: psycopg.Connection,
    file_id: str,
    source_event: str,
    kind: NotificationKind,
    recipient: str,
    message: str,
    payload: str,
) -> bool:
    """One notification per file and event; False when it already exists (redelivery)."""
    inserted = conn.execute(
        "INSERT INTO notifications (file_id, source_event, kind, recipient, message, payload)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (file_id, source_event) DO NOTHING"
        " RETURNING id",
        (file_id, source_event, kind.value, recipient, message, payload),
    ).fetchone()
    return inserted is not None


def last_kinds(conn: psycopg.Connection, file_ids: Sequence[str]) -> dict[str, NotificationKind]:
    """The kind of each file's latest notification."""
    rows = conn.execute(
        "SELECT DISTINCT ON (file_id) file_id, kind FROM notifications WHERE file_id = ANY(%s)"
        " ORDER BY file_id, id DESC",
        (list(file_ids),),
    ).fetchall()
    return {file_id: NotificationKind(kind) for file_id, kind in rows}


def claim_unpublished(conn: psycopg.Connection, limit: int) -> list[PendingNotification]:
    """Lock up to `limit` unpublished notifications (call inside a transaction): a concurrent
    run skips the locked ones, so no notification is published twice."""
    rows = conn.execute(
        "SELECT id, file_id, payload FROM notifications WHERE published_at IS NULL"
        " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
        (limit,),
    ).fetchall()
    return [PendingNotification(*row) for row in rows]


def mark_published(conn: psycopg.Connection, ids: Sequence[int]) -> None:
    conn.execute("UPDATE notifications SET published_at = now() WHERE id = ANY(%s)", (list(ids),))
