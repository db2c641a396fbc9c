"""Kafka clients (confluent-kafka) for the file-events topic and its dead-letter topic."""

from __future__ import annotations

from typing import Any

import dagster as dg
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from pydantic import Field

from file_pipeline.settings import dead_letter_topic


class KafkaResource(dg.ConfigurableResource):
    """Builds confluent-kafka producers, consumers and admin clients on demand.

    Producers are idempotent with `acks=all`, so a retried send never duplicates or reorders
    an event. Consumers never commit to Kafka: the Dagster sensor keeps offsets in its cursor.
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
    client_config: dict[str, str] = Field(
        default={},
        description="Extra librdkafka properties for every client, e.g. security.protocol, "
        "sasl.mechanism, sasl.username, sasl.password for MSK or Confluent Cloud.",
    )

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.file_events_topic)

    def _base_config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "broker.address.family": "v4",
            "log_level": 4,
            **self.client_config,
        }

    def producer(self, **overrides: Any) -> Producer:
        config = {
            **self._base_config(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "zstd",
            "message.timeout.ms": 30000,
            **overrides,
        }
        return Producer(config)

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

    def ensure_topics(self, timeout_seconds: float = 30.0) -> list[str]:
        """Create `file-events` and its dead-letter topic if missing; return those created."""
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
