"""SQL on the transactional outbox: events written with their `files` row, relayed to Kafka."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from file_pipeline.events.schema import FileEvent


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event_id: str
    topic: str
    message_key: str
    payload: str


@dataclass(frozen=True)
class OutboxBacklog:
    """Events not yet acknowledged by Kafka, older than some age."""

    count: int
    oldest_id: int | None
    oldest_created_at: datetime | None


def enqueue_events(conn: psycopg.Connection, events: Sequence[FileEvent], topic: str) -> None:
    """Outbox rows for `events`, in one round trip (call inside the rows' transaction)."""
    if not events:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO outbox (event_id, topic, message_key, payload, file_id, event_type)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (
                    event.event_id,
                    topic,
                    event.message_key,
                    event.to_json(),
                    event.file.id,
                    event.event_type,
                )
                for event in events
            ],
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


def unsent_backlog(conn: psycopg.Connection, older_than_seconds: float = 0) -> OutboxBacklog:
    """Unsent events created more than `older_than_seconds` ago: the relay sensor's trigger,
    the `outbox_drained` check and `file-pipeline status` all ask this."""
    count, oldest_id, oldest_created_at = conn.execute(
        "SELECT count(*), min(id), min(created_at) FROM outbox WHERE sent_at IS NULL"
        " AND created_at <= now() - make_interval(secs => %s)",
        (older_than_seconds,),
    ).fetchone()
    return OutboxBacklog(count, oldest_id, oldest_created_at)


def file_events(conn: psycopg.Connection, file_id: str) -> list[dict[str, object]]:
    """The events of one file as the outbox knows them (for `file-pipeline files show`)."""
    cur = conn.execute(
        "SELECT event_id::text, event_type, created_at, sent_at, kafka_partition, kafka_offset,"
        " attempts, last_error FROM outbox WHERE file_id = %s ORDER BY id",
        (file_id,),
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
