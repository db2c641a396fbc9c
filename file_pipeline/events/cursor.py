"""The `file_events_sensor`'s cursor and run keys, as plain data.

The cursor records, per partition, the next offset to read, plus the identity of the topic those
offsets belong to (Kafka's topic id). A topic deleted and created again has a new id: its offsets
start over, so the cursor restarts from the beginning instead of skipping the new events, and run
keys carry the id so a new batch is never mistaken for an old one with the same offsets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from file_pipeline.events.offsets import OffsetRange


@dataclass(frozen=True)
class SensorCursor:
    topic: str
    topic_id: str | None = None
    offsets: dict[int, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> SensorCursor | None:
        """The cursor a tick stored, or None for a new sensor (or an unreadable cursor)."""
        if not text:
            return None
        try:
            doc = json.loads(text)
            return cls(
                topic=str(doc["topic"]),
                topic_id=doc.get("topic_id"),
                offsets={int(p): int(o) for p, o in doc.get("offsets", {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def serialize(self) -> str:
        return json.dumps(
            {
                "topic": self.topic,
                "topic_id": self.topic_id,
                "offsets": {str(p): o for p, o in sorted(self.offsets.items())},
            },
            sort_keys=True,
        )


@dataclass(frozen=True)
class StartingPoint:
    """Where a tick starts reading, and why."""

    offsets: dict[int, int]
    restart_from_beginning: bool = False
    reason: str = ""


def starting_point(cursor: SensorCursor | None, topic: str, topic_id: str | None) -> StartingPoint:
    """Offsets to resume from, given the stored cursor and the topic as it is now."""
    if cursor is None:
        return StartingPoint({}, reason="no cursor yet: reading from the beginning")
    if cursor.topic != topic:
        return StartingPoint(
            {}, reason=f"cursor was for topic {cursor.topic!r}: reading {topic!r} from the start"
        )
    if cursor.topic_id and topic_id and cursor.topic_id != topic_id:
        return StartingPoint(
            dict(cursor.offsets),
            restart_from_beginning=True,
            reason=(
                f"topic {topic!r} was deleted and created again (id {cursor.topic_id} is now "
                f"{topic_id}): restarting from its first offsets"
            ),
        )
    return StartingPoint(dict(cursor.offsets))


def run_key(topic: str, topic_id: str | None, ranges: list[OffsetRange]) -> str:
    """Unique per batch: topic, topic identity and offset ranges."""
    identity = f"{topic}@{topic_id}" if topic_id else topic
    return f"{identity}:" + ",".join(r.label() for r in ranges)
