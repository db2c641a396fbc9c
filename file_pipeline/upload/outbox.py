"""The outbox relay: publish unsent outbox rows to Kafka, then mark them sent.

Rows are claimed with `FOR UPDATE SKIP LOCKED`, so two relays never publish the same row at the
same time; the producer is idempotent with `acks=all`. A row is marked sent only after the broker
acknowledged it, so a crash in between re-sends it (at-least-once; consumers dedup by `eventId`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from file_pipeline.db import outbox
from file_pipeline.events.publishing import OutgoingMessage
from file_pipeline.log import Logger

if TYPE_CHECKING:
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


def relay_outbox(
    postgres: PostgresResource,
    kafka: KafkaResource,
    log: Logger,
    *,
    batch_size: int = 5000,
    max_batches: int = 100,
) -> RelayResult:
    """Publish unsent events until none are left (or Kafka stops acknowledging)."""
    result = RelayResult()
    with postgres.connection() as conn:
        for _ in range(max_batches):
            with conn.transaction():
                rows = outbox.claim_unsent_events(conn, batch_size)
                if not rows:
                    break
                published = kafka.publish(
                    [
                        OutgoingMessage(
                            row.topic,
                            key=row.message_key.encode("utf-8"),
                            value=row.payload.encode("utf-8"),
                            headers=[("eventId", row.event_id.encode())],
                            ref=row.id,
                        )
                        for row in rows
                    ]
                )
                outbox.mark_events_sent(
                    conn, [(d.message.ref, d.partition, d.offset) for d in published.acknowledged]
                )
                outbox.mark_events_failed(conn, [(m.ref, error) for m, error in published.failed])
            result.sent += len(published.acknowledged)
            result.failed += len(published.failed)
            for delivery in published.acknowledged:
                result.note_offset(delivery.partition, delivery.offset)
            if published.failed:
                reasons = sorted({error for _, error in published.failed})
                result.errors.extend(reasons)
                log.warning(
                    f"Kafka did not acknowledge {len(published.failed)} events "
                    f"({'; '.join(reasons[:3])}); they stay in the outbox"
                )
                break
        result.pending = outbox.unsent_backlog(conn).count
    return result
