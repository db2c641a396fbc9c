"""Reading `file-events` by explicit offsets, for the sensor (what is new?) and for processing
runs (which events are in my batch?).

Nothing here commits offsets to Kafka: the sensor's cursor is the only record of progress, and a
run is told its offset ranges, not the payloads. Every call to the broker is bounded by one
deadline, so a broker that stops answering makes the caller fail in time instead of hanging.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from file_pipeline.errors import InvalidEventError, KafkaUnavailableError, TopicNotFoundError
from file_pipeline.events.schema import PROCESSED_EVENT_TYPES, EventType, FileEvent, parse_event

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class OffsetRange:
    """Offsets `start`..`end` (both inclusive) of one partition."""

    partition: int
    start: int
    end: int

    def label(self) -> str:
        return f"{self.partition}:{self.start}-{self.end}"


@dataclass(frozen=True)
class RejectedMessage:
    """A message that is not a valid event; it goes to the dead-letter topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str
    headers: Headers = ()


@dataclass(frozen=True)
class ReceivedEvent:
    partition: int
    offset: int
    event: FileEvent
    dedup_key: str
    key: bytes | None = None
    value: bytes | None = None
    headers: Headers = ()


@dataclass(frozen=True)
class OffsetGap:
    """Offsets the cursor expected that the broker no longer has (deleted by retention)."""

    partition: int
    first_missing: int
    last_missing: int

    @property
    def size(self) -> int:
        return self.last_missing - self.first_missing + 1


@dataclass(frozen=True)
class OffsetReset:
    """The cursor pointed past the partition's end: the topic was deleted and created again (or
    truncated), so reading starts over from the partition's first offset."""

    partition: int
    cursor_offset: int
    high_watermark: int


@dataclass
class PolledBatch:
    """What one sensor tick read: events to process, events left alone (types this consumer
    does not act on), rejected messages, and where to resume."""

    events: list[ReceivedEvent] = field(default_factory=list)
    ignored: list[ReceivedEvent] = field(default_factory=list)
    rejected: list[RejectedMessage] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    low_watermarks: dict[int, int] = field(default_factory=dict)
    high_watermarks: dict[int, int] = field(default_factory=dict)
    gaps: list[OffsetGap] = field(default_factory=list)
    resets: list[OffsetReset] = field(default_factory=list)

    def ranges(self) -> list[OffsetRange]:
        """The offset range per partition covering the events to process."""
        return offset_ranges([(e.partition, e.offset) for e in self.events])

    def lag(self) -> int:
        """Messages on the topic not yet read, after this batch."""
        return sum(
            max(0, high - self.next_offsets.get(p, 0)) for p, high in self.high_watermarks.items()
        )

    @property
    def empty(self) -> bool:
        """Nothing read and nothing to report: the cursor would not move."""
        return not (self.events or self.ignored or self.rejected or self.gaps or self.resets)

    def ignored_by_type(self) -> dict[str, int]:
        return dict(sorted(Counter(r.event.event_type for r in self.ignored).items()))


def offset_ranges(positions: list[tuple[int, int]]) -> list[OffsetRange]:
    """(partition, offset) pairs as one inclusive range per partition, by partition."""
    by_partition: dict[int, list[int]] = {}
    for partition, offset in positions:
        by_partition.setdefault(partition, []).append(offset)
    return [
        OffsetRange(p, min(offsets), max(offsets)) for p, offsets in sorted(by_partition.items())
    ]


class Deadline:
    """The time left for a unit of work; each broker call gets at most what remains."""

    def __init__(self, seconds: float) -> None:
        self.expires = time.monotonic() + seconds

    def remaining(self, at_most: float | None = None) -> float:
        left = max(0.0, self.expires - time.monotonic())
        return left if at_most is None else min(left, at_most)

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.expires


def topic_partitions(consumer: Consumer, topic: str, deadline: Deadline) -> list[int]:
    try:
        metadata = consumer.list_topics(topic, timeout=max(0.1, deadline.remaining(10.0)))
    except KafkaException as exc:
        raise KafkaUnavailableError(f"listing partitions of {topic}", exc) from exc
    info = metadata.topics.get(topic)
    if info is None or not info.partitions:
        raise TopicNotFoundError(topic)
    if info.error is not None:
        if info.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise TopicNotFoundError(topic)
        raise KafkaUnavailableError(f"listing partitions of {topic}", info.error)
    return sorted(info.partitions)


def watermarks(
    consumer: Consumer, topic: str, partition: int, deadline: Deadline
) -> tuple[int, int]:
    """(low, high) of one partition, asked of the broker (never a cached value)."""
    try:
        return consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=max(0.1, deadline.remaining(10.0))
        )
    except KafkaException as exc:
        raise KafkaUnavailableError(f"reading offsets of {topic}[{partition}]", exc) from exc


def decode(msg: Message, topic: str) -> ReceivedEvent | RejectedMessage:
    headers: Headers = tuple((k, v or b"") for k, v in (msg.headers() or []))
    try:
        event = parse_event(msg.value())
    except InvalidEventError as exc:
        return RejectedMessage(
            msg.partition(), msg.offset(), msg.key(), msg.value(), str(exc), headers
        )
    return ReceivedEvent(
        msg.partition(),
        msg.offset(),
        event,
        event.dedup_key(topic, msg.partition(), msg.offset()),
        msg.key(),
        msg.value(),
        headers,
    )


def poll_new_events(
    consumer: Consumer,
    topic: str,
    start_offsets: dict[int, int],
    *,
    max_events: int,
    deadline: Deadline,
    restart_from_beginning: bool = False,
    poll_timeout_seconds: float = 1.0,
) -> PolledBatch:
    """Read up to `max_events` messages after `start_offsets` (partitions absent: from the start).

    Stops when every partition has reached its end, the limit is reached, or the deadline
    passes, whichever comes first. Offsets the cursor expected but the broker no longer has are
    reported as gaps; a cursor past a partition's end (or `restart_from_beginning`, when the
    topic's identity changed) restarts that partition from its first offset and is reported as
    a reset. Raises KafkaUnavailableError when the broker does not answer its metadata in time,
    so the caller's cursor does not move.
    """
    partitions = topic_partitions(consumer, topic, deadline)
    batch = PolledBatch()
    for p in partitions:
        low, high = watermarks(consumer, topic, p, deadline)
        batch.low_watermarks[p] = low
        batch.high_watermarks[p] = high
        start = start_offsets.get(p)
        if start is None:
            batch.next_offsets[p] = low
        elif restart_from_beginning or start > high:
            batch.resets.append(OffsetReset(p, start, high))
            batch.next_offsets[p] = low
        elif start < low:
            batch.gaps.append(OffsetGap(p, start, low - 1))
            batch.next_offsets[p] = low
        else:
            batch.next_offsets[p] = start
    pending = {p for p in partitions if batch.next_offsets[p] < batch.high_watermarks[p]}
    if not pending:
        return batch
    consumer.assign([TopicPartition(topic, p, batch.next_offsets[p]) for p in sorted(pending)])
    received = 0
    while pending and received < max_events and not deadline.expired:
        # Ask for exactly what is known to be there, so consume() returns as soon as it arrived
        # instead of waiting out its timeout for a full batch.
        available = sum(batch.high_watermarks[p] - batch.next_offsets[p] for p in pending)
        messages = consumer.consume(
            num_messages=max(1, min(500, max_events - received, available)),
            timeout=max(0.05, deadline.remaining(poll_timeout_seconds)),
        )
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                    continue
                raise KafkaUnavailableError(f"reading {topic}", err)
            if received >= max_events:
                break
            decoded = decode(msg, topic)
            if isinstance(decoded, RejectedMessage):
                batch.rejected.append(decoded)
            elif decoded.event.known_type in PROCESSED_EVENT_TYPES:
                batch.events.append(decoded)
            else:
                batch.ignored.append(decoded)
            batch.next_offsets[msg.partition()] = msg.offset() + 1
            received += 1
            if batch.next_offsets[msg.partition()] >= batch.high_watermarks[msg.partition()]:
                pending.discard(msg.partition())
    return batch


def wait_for_new_messages(
    consumer: Consumer, topic: str, next_offsets: dict[int, int], deadline: Deadline
) -> bool:
    """Block until a message exists at or after `next_offsets` on any partition, or until the
    deadline; True when one arrived. The message is not consumed: the caller reads it again
    with `poll_new_events`, which also sees whatever arrived with it."""
    if not next_offsets:
        return False
    consumer.assign([TopicPartition(topic, p, o) for p, o in sorted(next_offsets.items())])
    while not deadline.expired:
        for msg in consumer.consume(num_messages=1, timeout=max(0.05, deadline.remaining(0.5))):
            err = msg.error()
            if err is None:
                return True
            if err.code() != KafkaError._PARTITION_EOF:
                raise KafkaUnavailableError(f"waiting for messages on {topic}", err)
    return False


@dataclass
class RangeRead:
    """The messages of a processing run's offset ranges, and the offsets no longer there."""

    events: list[ReceivedEvent] = field(default_factory=list)
    rejected: list[RejectedMessage] = field(default_factory=list)
    missing: list[OffsetRange] = field(default_factory=list)


def read_ranges(
    consumer: Consumer,
    topic: str,
    ranges: list[OffsetRange],
    *,
    timeout_seconds: float = 60.0,
) -> RangeRead:
    """Read exactly the messages in `ranges` (a processing run's batch).

    Offsets deleted by retention before the run read them are returned as `missing` rather than
    waited for, so the run can say which events it never saw.
    """
    wanted = {r.partition: r for r in ranges if r.end >= r.start}
    result = RangeRead()
    if not wanted:
        return result
    deadline = Deadline(timeout_seconds)
    consumer.assign([TopicPartition(topic, r.partition, r.start) for r in wanted.values()])
    open_partitions = set(wanted)
    seen: dict[int, set[int]] = {p: set() for p in wanted}
    while open_partitions:
        if deadline.expired:
            labels = ", ".join(r.label() for r in ranges)
            raise KafkaUnavailableError(
                f"reading offsets {labels} of {topic}", TimeoutError(f"{timeout_seconds} s")
            )
        remaining = sum(wanted[p].end - wanted[p].start + 1 - len(seen[p]) for p in open_partitions)
        for msg in consumer.consume(num_messages=max(1, min(500, remaining)), timeout=1.0):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    open_partitions.discard(msg.partition())
                    continue
                raise KafkaUnavailableError(f"reading {topic}", err)
            r = wanted.get(msg.partition())
            if r is None or msg.partition() not in open_partitions or msg.offset() < r.start:
                continue
            if msg.offset() > r.end:
                # Retention removed the rest of the range: the broker skipped ahead.
                open_partitions.discard(msg.partition())
                continue
            decoded = decode(msg, topic)
            if isinstance(decoded, ReceivedEvent):
                result.events.append(decoded)
            else:
                result.rejected.append(decoded)
            seen[msg.partition()].add(msg.offset())
            if msg.offset() >= r.end:
                open_partitions.discard(msg.partition())
    for p, r in sorted(wanted.items()):
        absent = [o for o in range(r.start, r.end + 1) if o not in seen[p]]
        result.missing.extend(_runs(p, absent))
    return result


def _runs(partition: int, offsets: list[int]) -> list[OffsetRange]:
    """Sorted offsets as maximal consecutive ranges."""
    runs: list[OffsetRange] = []
    for offset in offsets:
        if runs and runs[-1].end == offset - 1:
            runs[-1] = OffsetRange(partition, runs[-1].start, offset)
        else:
            runs.append(OffsetRange(partition, offset, offset))
    return runs


def reject_unknown_files(
    events: list[ReceivedEvent], known_file_ids: set[str]
) -> tuple[list[ReceivedEvent], list[RejectedMessage]]:
    """Split events into those to process and UPLOADED events of files with no row (returned as
    rejected messages for the dead-letter topic). Returns new lists; `events` is not changed."""
    kept: list[ReceivedEvent] = []
    rejected: list[RejectedMessage] = []
    for received in events:
        file_id = received.event.file.id
        if received.event.known_type is EventType.UPLOADED and file_id not in known_file_ids:
            rejected.append(
                RejectedMessage(
                    received.partition,
                    received.offset,
                    received.key,
                    received.value,
                    f"unknown file: no row in files for id {file_id}",
                    received.headers,
                )
            )
        else:
            kept.append(received)
    return kept, rejected
