"""Kafka clients (confluent-kafka) for `file-events`, its dead-letter topic and notifications."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicCollection,
)
from confluent_kafka.admin import AdminClient, NewTopic
from pydantic import Field, PrivateAttr

from file_pipeline.errors import KafkaUnavailableError, TopicNotFoundError
from file_pipeline.events.publishing import Delivery, OutgoingMessage, PublishResult
from file_pipeline.settings import dead_letter_topic


class KafkaResource(dg.ConfigurableResource):
    """Builds confluent-kafka producers, consumers and admin clients on demand.

    The producer is idempotent with `acks=all`, so a retried send never duplicates or reorders
    a message; `publish` is the one way the pipeline sends anything. Consumers never commit to
    Kafka: the Dagster sensor keeps offsets in its cursor.
    """

    bootstrap_servers: str = Field(description="Kafka bootstrap servers, host:port[,host:port].")
    file_events_topic: str = Field(
        default="file-events", description="Topic carrying file events (key = file id)."
    )
    notifications_topic: str = Field(
        default="file-notifications", description="Topic carrying one notification per file."
    )
    file_events_partitions: int = Field(
        default=3, description="Partitions to create the file-events topic with, if missing."
    )
    replication_factor: int = Field(default=1, description="Replication factor for new topics.")
    client_id: str = Field(default="file-pipeline", description="Client id shown in broker logs.")
    delivery_timeout_seconds: float = Field(
        default=15.0,
        description="How long a published message may wait for the broker's acknowledgement "
        "before it counts as not delivered (librdkafka's message.timeout.ms).",
    )
    client_config: dict[str, str] = Field(
        default={},
        description="Extra librdkafka properties for every client, e.g. security.protocol, "
        "sasl.mechanism, sasl.username, sasl.password for MSK or Confluent Cloud.",
    )

    _producer: Producer | None = PrivateAttr(default=None)

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.file_events_topic)

    @property
    def topics(self) -> tuple[str, ...]:
        return (self.file_events_topic, self.dead_letter_topic, self.notifications_topic)

    def _base_config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "broker.address.family": "v4",
            "log_level": 4,
            **self.client_config,
        }

    def producer(self) -> Producer:
        """The resource's idempotent producer (created on first use, then reused)."""
        if self._producer is None:
            self._producer = Producer(
                {
                    **self._base_config(),
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    "compression.type": "zstd",
                    "message.timeout.ms": int(self.delivery_timeout_seconds * 1000),
                }
            )
        return self._producer

    def consumer(self, group_id: str, **overrides: Any) -> Consumer:
        config = {
            **self._base_config(),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            **overrides,
        }
        return Consumer(config)

    def admin(self) -> AdminClient:
        return AdminClient(self._base_config())

    def publish(self, messages: Sequence[OutgoingMessage]) -> PublishResult:
        """Send `messages` and wait for the broker's answer to each.

        Returns which were acknowledged (with partition and offset) and which were not, with the
        reason; nothing is raised for undelivered messages, so callers decide what to mark.
        """
        result = PublishResult()
        if not messages:
            return result
        producer = self.producer()
        answered: set[int] = set()

        def on_delivery(index: int) -> Any:
            def callback(err: KafkaError | None, msg: Message) -> None:
                answered.add(index)
                if err is not None:
                    result.failed.append((messages[index], str(err)))
                else:
                    result.acknowledged.append(
                        Delivery(messages[index], msg.partition(), msg.offset())
                    )

            return callback

        for index, message in enumerate(messages):
            while True:
                try:
                    producer.produce(
                        message.topic,
                        key=message.key,
                        value=message.value,
                        headers=list(message.headers),
                        on_delivery=on_delivery(index),
                    )
                    break
                except BufferError:
                    producer.poll(0.5)  # the local queue is full: let deliveries drain
            producer.poll(0)
        producer.flush(self.delivery_timeout_seconds + 5)
        for index, message in enumerate(messages):
            if index not in answered:
                result.failed.append((message, "no acknowledgement before the timeout"))
        return result

    def topic_id(self, topic: str, timeout_seconds: float = 10.0) -> str:
        """Kafka's id of `topic`: it changes when the topic is deleted and created again."""
        admin = self.admin()  # kept referenced: the future dies with its client
        futures = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout_seconds)
        try:
            description = futures[topic].result(timeout=timeout_seconds)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise TopicNotFoundError(topic) from exc
            raise KafkaUnavailableError(f"describing topic {topic}", exc) from exc
        except TimeoutError as exc:
            raise KafkaUnavailableError(
                f"describing topic {topic}", f"no answer within {timeout_seconds:.0f} s"
            ) from exc
        return str(description.topic_id)

    def ensure_topics(self, timeout_seconds: float = 30.0) -> list[str]:
        """Create the events, dead-letter and notifications topics if missing; return those
        created. Deploy-time work (`file-pipeline db migrate`, `stack up`), never on a tick."""
        admin = self.admin()
        existing = set(admin.list_topics(timeout=timeout_seconds).topics)
        wanted = [
            NewTopic(self.file_events_topic, self.file_events_partitions, self.replication_factor),
            NewTopic(self.dead_letter_topic, 1, self.replication_factor),
            NewTopic(self.notifications_topic, 1, self.replication_factor),
        ]
        missing = [t for t in wanted if t.topic not in existing]
        if not missing:
            return []
        created = []
        for topic, future in admin.create_topics(missing, request_timeout=timeout_seconds).items():
            try:
                future.result(timeout=timeout_seconds)
                created.append(topic)
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
        return created

    def delete_topics(self, timeout_seconds: float = 30.0) -> None:
        """Delete the three topics (test and benchmark environments only)."""
        admin = self.admin()
        for future in admin.delete_topics(list(self.topics)).values():
            try:
                future.result(timeout=timeout_seconds)
            except KafkaException as exc:
                if "UNKNOWN_TOPIC" not in str(exc):
                    raise

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._producer is not None:
            self._producer.flush(self.delivery_timeout_seconds)
