"""The outbox relay: publish unsent outbox rows to Kafka, then mark them sent.

Rows are claimed with `FOR UPDATE SKIP LOCKED`, so two relays never publish the same row at the
same time; the producer is idempotent with `acks=all`. A row is marked sent only after the broker
acknowledged it, so a crash in between re-sends it (at-least-once; consumers dedup by `eventId`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, Message

from file_pipeline.db import queries
from file_pipeline.resources.kafka import KafkaResource
from file_pipeline.resources.postgres import PostgresResource


@dataclass
class RelayResult:
    sent: int = 0
    failed: int = 0
    pending: int = 0
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def note_offset(self, partition: int, offset: int) -> None:
        low, high = self.offsets.get(partition, (offset, offset))
        self.offsets[partition] = (min(low, offset), max(high, offset))


class _Deliveries:
    """Collects the broker's answers to one batch of produced events."""

    def __init__(self) -> None:
        self.delivered: list[tuple[int, int, int]] = []
        self.failed: list[tuple[int, str]] = []

    def callback(self, outbox_id: int) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self.failed.append((outbox_id, str(err)))
            else:
                self.delivered.append((outbox_id, msg.partition(), msg.offset()))

        return on_delivery


def relay_outbox(
    postgres: PostgresResource,
    kafka: KafkaResource,
    log: logging.Logger | logging.LoggerAdapter,
    *,
    batch_size: int = 500,
    delivery_timeout_seconds: float = 15.0,
    max_batches: int = 100,
) -> RelayResult:
    """Publish unsent events until none are left (or Kafka stops acknowledging)."""
    result = RelayResult()
    try:
        kafka.ensure_topics(timeout_seconds=delivery_timeout_seconds)
    except KafkaException as exc:
        with postgres.connection() as conn:
            result.pending = queries.count_unsent_events(conn)
        result.errors.append(f"Kafka unavailable: {exc}")
        log.warning(f"Kafka unavailable ({exc}); {result.pending} events stay in the outbox")
        return result
    producer = kafka.producer(**{"message.timeout.ms": int(delivery_timeout_seconds * 1000)})
    try:
        for _ in range(max_batches):
            with postgres.connection() as conn, conn.transaction():
                rows = queries.claim_unsent_events(conn, batch_size)
                if not rows:
                    break
                deliveries = _Deliveries()
                for row in rows:
                    producer.produce(
                        row.topic,
                        key=row.message_key.encode("utf-8"),
                        value=row.payload.encode("utf-8"),
                        headers=[("eventId", row.event_id.encode())],
                        on_delivery=deliveries.callback(row.id),
                    )
                    producer.poll(0)
                remaining = producer.flush(delivery_timeout_seconds + 5)
                if remaining:
                    log.warning("%d events still unacknowledged after flush", remaining)
                delivered, failed = deliveries.delivered, deliveries.failed
                queries.mark_events_sent(conn, delivered)
                queries.mark_events_failed(conn, failed)
                result.sent += len(delivered)
                result.failed += len(failed)
                for _, partition, offset in delivered:
                    result.note_offset(partition, offset)
                if failed:
                    result.errors.extend(sorted({error for _, error in failed}))
                    log.warning(
                        "Kafka did not acknowledge %d events (%s); they stay in the outbox",
                        len(failed),
                        "; ".join(sorted({e for _, e in failed})[:3]),
                    )
                    break
        with postgres.connection() as conn:
            result.pending = queries.count_unsent_events(conn)
    finally:
        producer.flush(1)
    return result
