import uuid

import pytest
from confluent_kafka import KafkaError, TopicPartition

from file_pipeline.resources import KafkaResource

pytestmark = pytest.mark.stack


def test_topics_exist_with_three_partitions(kafka: KafkaResource) -> None:
    assert kafka.ensure_topics() == []  # created by the session fixture; idempotent now
    topics = kafka.admin().list_topics(timeout=10).topics
    assert len(topics[kafka.file_events_topic].partitions) == 3
    assert kafka.dead_letter_topic == f"{kafka.file_events_topic}.dlq"
    assert kafka.dead_letter_topic in topics


def test_produce_and_consume_on_file_events(kafka: KafkaResource) -> None:
    key = str(uuid.uuid4())
    delivered = []
    producer = kafka.producer()
    producer.produce(
        kafka.file_events_topic,
        key=key.encode(),
        value=b'{"probe": true}',
        on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())),
    )
    assert producer.flush(30) == 0
    err, partition, offset = delivered[0]
    assert err is None

    consumer = kafka.consumer(f"test-{key}")
    try:
        consumer.assign([TopicPartition(kafka.file_events_topic, partition, offset)])
        msg = consumer.poll(30)
        assert msg is not None and (
            msg.error() is None or msg.error().code() != KafkaError._PARTITION_EOF
        )
        assert msg.key() == key.encode() and msg.value() == b'{"probe": true}'
    finally:
        consumer.close()
