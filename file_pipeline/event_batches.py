"""Reading `file-events` by explicit offsets, for the sensor (what is new?) and for processing
runs (which events are in my batch?).

Nothing here commits offsets to Kafka: the sensor's cursor is the only record of progress, and a
run is told its offset ranges, not the payloads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from file_pipeline.errors import FilePipelineError, InvalidEventError
from file_pipeline.events import FileEvent, parse_event


@dataclass(frozen=True)
class OffsetRange:
    """Offsets `start`..`end` (both inclusive) of one partition."""

    partition: int
    start: int
    end: int

    def as_config(self) -> dict[str, int]:
        return {"partition": self.partition, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class RejectedMessage:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str


@dataclass(frozen=True)
class ReceivedEvent:
    partition: int
    offset: int
    event: FileEvent
    dedup_key: str
    key: bytes | None = None
    value: bytes | None = None


@dataclass
class PolledBatch:
    """What one sensor tick read: valid events, rejected messages and where to resume."""

    events: list[ReceivedEvent] = field(default_factory=list)
    rejected: list[RejectedMessage] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    high_watermarks: dict[int, int] = field(default_factory=dict)

    def ranges(self) -> list[OffsetRange]:
        by_partition: dict[int, list[int]] = {}
        for received in self.events:
            by_partition.setdefault(received.partition, []).append(received.offset)
        return [
            OffsetRange(p, min(offsets), max(offsets))
            for p, offsets in sorted(by_partition.items())
        ]

    def lag(self) -> int:
        """Messages on the topic not yet read, after this batch."""
        return sum(
            max(0, high - self.next_offsets.get(p, 0)) for p, high in self.high_watermarks.items()
        )


class TopicNotFoundError(FilePipelineError):
    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} does not exist (run `file-pipeline db migrate`?)")
        self.topic = topic


def topic_partitions(consumer: Consumer, topic: str, timeout: float = 10.0) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=timeout)
    info = metadata.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        raise TopicNotFoundError(topic)
    return sorted(info.partitions)


def _decode(msg: Message, topic: str) -> ReceivedEvent | RejectedMessage:
    try:
        event = parse_event(msg.value())
    except InvalidEventError as exc:
        return RejectedMessage(msg.partition(), msg.offset(), msg.key(), msg.value(), str(exc))
    return ReceivedEvent(
        msg.partition(),
        msg.offset(),
        event,
        event.dedup_key(topic, msg.partition(), msg.offset()),
        msg.key(),
        msg.value(),
    )


def poll_new_events(
    consumer: Consumer,
    topic: str,
    start_offsets: dict[int, int],
    *,
    max_events: int,
    time_budget_seconds: float,
    poll_timeout_seconds: float = 1.0,
) -> PolledBatch:
    """Read up to `max_events` messages after `start_offsets` (partitions absent: from the start).

    Stops when every partition has reached its end, the limit is reached, or the time budget is
    spent, whichever comes first, so a sensor tick stays well inside Dagster's timeout.
    """
    deadline = time.monotonic() + time_budget_seconds
    partitions = topic_partitions(consumer, topic)
    batch = PolledBatch()
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10.0)
        batch.high_watermarks[p] = high
        start = start_offsets.get(p, OFFSET_BEGINNING)
        # Retention may have deleted what the cursor points at: resume at the oldest kept message.
        batch.next_offsets[p] = max(start, low) if start >= 0 else low
    pending = {p for p in partitions if batch.next_offsets[p] < batch.high_watermarks[p]}
    if not pending:
        return batch
    consumer.assign([TopicPartition(topic, p, batch.next_offsets[p]) for p in sorted(pending)])
    received = 0
    while pending and received < max_events and time.monotonic() < deadline:
        # Ask for exactly what is known to be there, so consume() returns as soon as it arrived
        # instead of waiting out its timeout for a full batch.
        available = sum(batch.high_watermarks[p] - batch.next_offsets[p] for p in pending)
        messages = consumer.consume(
            num_messages=max(1, min(500, max_events - received, available)),
            timeout=poll_timeout_seconds,
        )
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                    continue
                raise FilePipelineError(f"Kafka error while reading {topic}: {err}")
            if received >= max_events:
                break
            decoded = _decode(msg, topic)
            if isinstance(decoded, ReceivedEvent):
                batch.events.append(decoded)
            else:
                batch.rejected.append(decoded)
            batch.next_offsets[msg.partition()] = msg.offset() + 1
            received += 1
            if batch.next_offsets[msg.partition()] >= batch.high_watermarks[msg.partition()]:
                pending.discard(msg.partition())
    return batch


def read_ranges(
    consumer: Consumer,
    topic: str,
    ranges: list[OffsetRange],
    *,
    timeout_seconds: float = 60.0,
) -> tuple[list[ReceivedEvent], list[RejectedMessage]]:
    """Read exactly the messages in `ranges` (a processing run's batch)."""
    wanted = {r.partition: r for r in ranges if r.end >= r.start}
    if not wanted:
        return [], []
    consumer.assign([TopicPartition(topic, r.partition, r.start) for r in wanted.values()])
    events: list[ReceivedEvent] = []
    rejected: list[RejectedMessage] = []
    open_partitions = set(wanted)
    next_offset: dict[int, int] = {}
    deadline = time.monotonic() + timeout_seconds
    while open_partitions:
        if time.monotonic() > deadline:
            raise FilePipelineError(
                f"timed out reading offsets {[r.as_config() for r in ranges]} of {topic}"
            )
        remaining = sum(
            wanted[p].end - next_offset.get(p, wanted[p].start) + 1 for p in open_partitions
        )
        for msg in consumer.consume(num_messages=max(1, min(500, remaining)), timeout=1.0):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    if msg.partition() in open_partitions:
                        raise FilePipelineError(
                            f"partition {msg.partition()} of {topic} ended before offset "
                            f"{wanted[msg.partition()].end}: messages were deleted by retention?"
                        )
                    continue
                raise FilePipelineError(f"Kafka error while reading {topic}: {err}")
            r = wanted.get(msg.partition())
            if r is None or msg.partition() not in open_partitions or msg.offset() > r.end:
                continue
            decoded = _decode(msg, topic)
            (events if isinstance(decoded, ReceivedEvent) else rejected).append(decoded)
            next_offset[msg.partition()] = msg.offset() + 1
            if msg.offset() >= r.end:
                open_partitions.discard(msg.partition())
    return events, rejected
