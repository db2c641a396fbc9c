"""The dead-letter topic (`file-events.dlq`): what a dead letter carries and how it is counted.

A message that is not a valid event (bad JSON, schema violation, an upload of a file with no row)
is published there unchanged (key and value), with headers saying why and where it came from:

    dlq.reason             why it was rejected
    dlq.source.topic       the topic, partition and offset it was read from
    dlq.source.partition
    dlq.source.offset
    dlq.stage              what rejected it (the sensor)
    dlq.replay.count       how many times it was already replayed (absent: never)

A replayed message goes back to `file-events` with `replay.count` and `replay.from.offset`
headers; if it is rejected again, its dead letter carries the raised count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from confluent_kafka import KafkaException, TopicPartition

from file_pipeline.events.offsets import RejectedMessage
from file_pipeline.events.publishing import Headers, OutgoingMessage

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
