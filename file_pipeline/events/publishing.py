"""What the pipeline sends to Kafka and what the broker answered, as plain data: the outbox
relay, the dead-letter publisher and the notifications all publish through
`KafkaResource.publish` with these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from file_pipeline.errors import EventPublishError

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to publish; `ref` is the caller's handle for it (e.g. an outbox row id)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    ref: Any = None


@dataclass(frozen=True)
class Delivery:
    message: OutgoingMessage
    partition: int
    offset: int


@dataclass
class PublishResult:
    """What the broker acknowledged, and what it did not (with the reason)."""

    acknowledged: list[Delivery] = field(default_factory=list)
    failed: list[tuple[OutgoingMessage, str]] = field(default_factory=list)

    def raise_on_failure(self, what: str) -> None:
        """EventPublishError naming the first reasons, unless every message was acknowledged."""
        if self.failed:
            reasons = "; ".join(sorted({reason for _, reason in self.failed})[:3])
            raise EventPublishError(
                f"{what}: {len(self.failed)} of {len(self.failed) + len(self.acknowledged)} "
                f"messages not acknowledged ({reasons})"
            )
