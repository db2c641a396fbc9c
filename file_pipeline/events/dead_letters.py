"""The dead-letter topic (`file-events.dlq`): what a dead letter carries and how it is counted.

A message that is not a valid event (bad JSON, schema violation, an upload of a file with no row)
is published there unchanged (key and value), with headers saying why and where it came from:

    dlq.reason             why it was rejected
    dlq.source.topic       the topic, partition and offset it was read from
    dlq.source.partition
    dlq.source.offset
    dlq.stage              what rejected it (the sensor)
    dlq.replay.count       how many times it was already replayed (absent: never)

A replayed message goes back to `file-events` with `replay.count`, `replay.from.offset` and
`replay.from.partition` headers; if it is rejected again, its dead letter carries the raised count,
and once that count reaches the replay limit it is left alone unless the replay is forced.

The topic is append-only: a replayed dead letter stays on it (its successor, if it fails again, is
a new dead letter with the raised count). Reading never commits offsets to Kafka.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from file_pipeline.errors import KafkaUnavailableError
from file_pipeline.events.offsets import Deadline, RejectedMessage, topic_partitions, watermarks
from file_pipeline.events.publishing import Delivery, Headers, OutgoingMessage

if TYPE_CHECKING:
    from file_pipeline.resources.kafka import KafkaResource

REASON = "dlq.reason"
SOURCE_TOPIC = "dlq.source.topic"
SOURCE_PARTITION = "dlq.source.partition"
SOURCE_OFFSET = "dlq.source.offset"
STAGE = "dlq.stage"
REPLAY_COUNT = "dlq.replay.count"
REPLAYED_COUNT = "replay.count"
"""On a message replayed to `file-events`: how many times it has been replayed."""
REPLAYED_FROM_OFFSET = "replay.from.offset"
"""On a message replayed to `file-events`: the dead letter's offset on the dead-letter topic."""
REPLAYED_FROM_PARTITION = "replay.from.partition"
"""On a message replayed to `file-events`: the dead letter's partition on the dead-letter topic."""
DEFAULT_REPLAY_LIMIT = 3
"""Replays after which a dead letter is no longer replayed unless forced."""
READER_GROUP_ID = "file-pipeline-dlq-reader"


def replay_count(headers: Headers) -> int:
    """How many times a message read from `file-events` has been replayed already."""
    for name, value in headers:
        if name == REPLAYED_COUNT:
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def dead_letter(
    rejected: RejectedMessage, source_topic: str, dead_letter_topic: str, stage: str
) -> OutgoingMessage:
    """The dead letter for a rejected message: its original bytes, and why and where from."""
    return OutgoingMessage(
        dead_letter_topic,
        key=rejected.key,
        value=rejected.value,
        headers=[
            (REASON, rejected.reason.encode("utf-8")),
            (SOURCE_TOPIC, source_topic.encode("utf-8")),
            (SOURCE_PARTITION, str(rejected.partition).encode()),
            (SOURCE_OFFSET, str(rejected.offset).encode()),
            (STAGE, stage.encode()),
            (REPLAY_COUNT, str(replay_count(rejected.headers)).encode()),
        ],
    )


def dead_letter_count(kafka: KafkaResource, timeout: float = 5.0) -> int | None:
    """Messages currently on the dead-letter topic, or None when Kafka does not answer."""
    consumer = kafka.consumer("file-pipeline-statistics")
    try:
        metadata = consumer.list_topics(kafka.dead_letter_topic, timeout=timeout)
        topic = metadata.topics.get(kafka.dead_letter_topic)
        if topic is None or topic.error is not None:
            return None
        total = 0
        for partition in topic.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(kafka.dead_letter_topic, partition), timeout=timeout
            )
            total += high - low
        return total
    except KafkaException:
        return None
    finally:
        consumer.close()


@dataclass(frozen=True)
class DeadLetter:
    """One message on the dead-letter topic: where it sits, the original key and value, and what
    its `dlq.*` headers say (why it was rejected, where from, how often it was replayed)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str
    source_topic: str
    source_partition: int | None
    source_offset: int | None
    stage: str
    replay_count: int
    timestamp_ms: int | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def reason_kind(self) -> str:
        return reason_kind(self.reason)

    @property
    def source(self) -> str:
        """Where the rejected message was read, as `topic[partition]@offset`."""
        partition = "?" if self.source_partition is None else self.source_partition
        offset = "?" if self.source_offset is None else self.source_offset
        return f"{self.source_topic or '?'}[{partition}]@{offset}"

    def key_text(self) -> str:
        return "" if self.key is None else self.key.decode("utf-8", errors="replace")

    @classmethod
    def from_message(cls, msg: Message) -> DeadLetter:
        headers = tuple((name, value or b"") for name, value in (msg.headers() or []))
        kind, timestamp = msg.timestamp()
        return cls(
            partition=msg.partition(),
            offset=msg.offset(),
            key=msg.key(),
            value=msg.value(),
            reason=_header(headers, REASON) or "",
            source_topic=_header(headers, SOURCE_TOPIC) or "",
            source_partition=_int(_header(headers, SOURCE_PARTITION)),
            source_offset=_int(_header(headers, SOURCE_OFFSET)),
            stage=_header(headers, STAGE) or "",
            replay_count=_int(_header(headers, REPLAY_COUNT)) or 0,
            timestamp_ms=None if kind == TIMESTAMP_NOT_AVAILABLE else timestamp,
            headers=headers,
        )


@dataclass
class ReplayResult:
    """What a replay sent back to `file-events` (with where each landed, in the same order) and
    what it left alone because it had been replayed `limit` times already."""

    replayed: list[DeadLetter] = field(default_factory=list)
    over_limit: list[DeadLetter] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("utf-8", errors="replace")
    return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def reason_kind(reason: str) -> str:
    """The grouping key of a rejection reason: the text before its first ": " ("unknown file",
    "value is not valid JSON", "fileMetadata.sha256"), so the backlog counts causes, not ids."""
    return reason.split(": ", 1)[0].strip() or "(no reason)"


def read_dead_letters(
    kafka: KafkaResource,
    *,
    reason: str | None = None,
    offsets: Collection[int] | None = None,
    timeout_seconds: float = 30,
) -> list[DeadLetter]:
    """The dead letters on the topic now, by partition and offset.

    `reason` keeps those whose `dlq.reason` contains it (case-insensitive); `offsets` keeps those
    at these offsets (of any partition; the topic has one) and reads only the span they cover.
    The topic is read by offset from its low watermark to its high watermark as of the call,
    never committing; raises KafkaUnavailableError when that takes longer than `timeout_seconds`.
    """
    topic = kafka.dead_letter_topic
    wanted = set(offsets) if offsets is not None else None
    if wanted is not None and not wanted:
        return []
    needle = reason.casefold() if reason else None
    deadline = Deadline(timeout_seconds)
    consumer = kafka.consumer(READER_GROUP_ID)
    try:
        ends: dict[int, int] = {}
        assignments = []
        for partition in topic_partitions(consumer, topic, deadline):
            start, end = watermarks(consumer, topic, partition, deadline)
            if wanted is not None:
                start, end = max(start, min(wanted)), min(end, max(wanted) + 1)
            if start < end:
                ends[partition] = end
                assignments.append(TopicPartition(topic, partition, start))
        if not assignments:
            return []
        consumer.assign(assignments)
        letters: list[DeadLetter] = []
        while ends:
            if deadline.expired:
                raise KafkaUnavailableError(
                    f"reading {topic}", TimeoutError(f"not read within {timeout_seconds} s")
                )
            for msg in consumer.consume(
                num_messages=500, timeout=max(0.05, deadline.remaining(1.0))
            ):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        ends.pop(msg.partition(), None)
                        continue
                    raise KafkaUnavailableError(f"reading {topic}", err)
                end = ends.get(msg.partition())
                if end is None or msg.offset() >= end:
                    continue
                if msg.offset() + 1 >= end:
                    ends.pop(msg.partition())
                if wanted is not None and msg.offset() not in wanted:
                    continue
                letter = DeadLetter.from_message(msg)
                if needle is None or needle in letter.reason.casefold():
                    letters.append(letter)
        return sorted(letters, key=lambda letter: (letter.partition, letter.offset))
    finally:
        consumer.close()


def backlog_by_reason(kafka: KafkaResource, timeout_seconds: float = 30) -> dict[str, int]:
    """Dead letters on the topic per reason kind (see `reason_kind`), by kind."""
    counts = Counter(
        letter.reason_kind for letter in read_dead_letters(kafka, timeout_seconds=timeout_seconds)
    )
    return dict(sorted(counts.items()))


def replay_message(letter: DeadLetter, topic: str) -> OutgoingMessage:
    """A dead letter as it goes back to `topic`: the original key and value, with headers saying
    which dead letter it is and how many times it has now been replayed."""
    return OutgoingMessage(
        topic,
        key=letter.key,
        value=letter.value,
        headers=[
            (REPLAYED_COUNT, str(letter.replay_count + 1).encode()),
            (REPLAYED_FROM_OFFSET, str(letter.offset).encode()),
            (REPLAYED_FROM_PARTITION, str(letter.partition).encode()),
        ],
        ref=letter,
    )


def replay(
    kafka: KafkaResource,
    letters: Sequence[DeadLetter],
    *,
    limit: int = DEFAULT_REPLAY_LIMIT,
    force: bool = False,
) -> ReplayResult:
    """Republish `letters` to `file-events` so the sensor reads them again.

    Letters already replayed `limit` times or more are left alone (returned as `over_limit`)
    unless `force`: a message that keeps failing is not sent round forever. Raises
    EventPublishError unless the broker acknowledged every replayed message.
    """
    result = ReplayResult()
    for letter in letters:
        if letter.replay_count >= limit and not force:
            result.over_limit.append(letter)
        else:
            result.replayed.append(letter)
    topic = kafka.file_events_topic
    published = kafka.publish([replay_message(letter, topic) for letter in result.replayed])
    published.raise_on_failure(f"replaying dead letters to {topic}")
    order = {id(letter): index for index, letter in enumerate(result.replayed)}
    result.deliveries = sorted(published.acknowledged, key=lambda d: order[id(d.message.ref)])
    return result
