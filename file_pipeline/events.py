"""The `file-events` wire contract: a superset of the seed's Java `FileEvent`.

Our producer writes `eventId`, `schemaVersion` and `sha256` on top of the seed's fields; consumers
accept events exactly as the seed's `FileEventProducer` writes them (without those three), deriving
the dedup key from the message's topic/partition/offset instead.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from file_pipeline.errors import InvalidEventError

SCHEMA_VERSION = 1


class EventType(str, Enum):
    UPLOADED = "UPLOADED"
    DELETED = "DELETED"
    DOWNLOADED = "DOWNLOADED"
    SHARED = "SHARED"


@dataclass(frozen=True)
class FileMetadata:
    """What the seed calls `FileMetadata`: the `files` row as it travels in an event."""

    id: str
    filename: str
    s3_key: str
    file_size: int
    uploaded_by: str
    s3_url: str | None = None
    content_type: str | None = None
    uploaded_at: int | None = None
    description: str | None = None
    sha256: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "filename": self.filename,
            "s3Key": self.s3_key,
            "s3Url": self.s3_url,
            "fileSize": self.file_size,
            "contentType": self.content_type,
            "uploadedBy": self.uploaded_by,
            "uploadedAt": self.uploaded_at,
            "description": self.description,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class FileEvent:
    event_type: EventType
    file: FileMetadata
    timestamp: int
    event_id: str | None = None
    schema_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "schemaVersion": self.schema_version,
            "eventType": self.event_type.value,
            "timestamp": self.timestamp,
            "fileMetadata": self.file.to_json_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), separators=(",", ":"), ensure_ascii=False)

    @property
    def message_key(self) -> str:
        """Kafka key: the file id, so every event of one file lands on one partition, in order."""
        return self.file.id

    def dedup_key(self, topic: str, partition: int, offset: int) -> str:
        """Stable identity of this event for idempotent processing."""
        return self.event_id or f"{topic}/{partition}/{offset}"


def new_event(event_type: EventType, file: FileMetadata, timestamp_ms: int) -> FileEvent:
    """An event as our own producer writes it: with a fresh `eventId` and `schemaVersion`."""
    return FileEvent(
        event_type=event_type,
        file=file,
        timestamp=timestamp_ms,
        event_id=str(uuid.uuid4()),
        schema_version=SCHEMA_VERSION,
    )


def _require(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], prefix: str) -> Any:
    if name not in obj or obj[name] is None:
        raise InvalidEventError("is required", field=f"{prefix}{name}")
    return _typed(obj, name, kind, prefix)


def _optional(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], prefix: str) -> Any:
    if obj.get(name) is None:
        return None
    return _typed(obj, name, kind, prefix)


def _typed(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], prefix: str) -> Any:
    value = obj[name]
    is_bool = isinstance(value, bool)
    if kind is int:
        if is_bool or not isinstance(value, int):
            raise InvalidEventError(
                f"must be an integer, got {type(value).__name__}", field=prefix + name
            )
        return value
    if not isinstance(value, kind) or is_bool:
        raise InvalidEventError(f"must be a {getattr(kind, '__name__', kind)}", field=prefix + name)
    return value


def _nonempty_text(obj: dict[str, Any], name: str, prefix: str, max_len: int = 4096) -> str:
    value: str = _require(obj, name, str, prefix)
    if not value.strip():
        raise InvalidEventError("must not be empty", field=prefix + name)
    if len(value) > max_len:
        raise InvalidEventError(f"is longer than {max_len} characters", field=prefix + name)
    if "\x00" in value:
        raise InvalidEventError("contains a NUL character", field=prefix + name)
    return value


def parse_event(raw: bytes | str | None) -> FileEvent:
    """Parse and validate one message value. Raises InvalidEventError saying what is wrong."""
    if raw is None:
        raise InvalidEventError("message has no value (tombstone)")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise InvalidEventError(f"value is not UTF-8: {exc}") from exc
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise InvalidEventError(f"value is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidEventError(f"value must be a JSON object, got {type(doc).__name__}")

    event_type_text = _require(doc, "eventType", str, "")
    try:
        event_type = EventType(event_type_text)
    except ValueError as exc:
        known = ", ".join(t.value for t in EventType)
        raise InvalidEventError(
            f"unknown event type {event_type_text!r} (known: {known})", field="eventType"
        ) from exc

    schema_version = _optional(doc, "schemaVersion", int, "")
    if schema_version is not None and schema_version != SCHEMA_VERSION:
        raise InvalidEventError(
            f"unsupported schema version {schema_version} (this consumer reads {SCHEMA_VERSION})",
            field="schemaVersion",
        )
    event_id = _optional(doc, "eventId", str, "")
    if event_id is not None:
        try:
            uuid.UUID(event_id)
        except ValueError as exc:
            raise InvalidEventError("must be a UUID", field="eventId") from exc
    timestamp = _require(doc, "timestamp", int, "")

    meta = _require(doc, "fileMetadata", dict, "")
    p = "fileMetadata."
    file_size = _require(meta, "fileSize", int, p)
    if file_size < 0:
        raise InvalidEventError("must not be negative", field=p + "fileSize")
    sha256 = _optional(meta, "sha256", str, p)
    if sha256 is not None and (
        len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256)
    ):
        raise InvalidEventError("must be 64 lowercase hex characters", field=p + "sha256")
    file = FileMetadata(
        id=_nonempty_text(meta, "id", p, max_len=64),
        filename=_nonempty_text(meta, "filename", p),
        s3_key=_nonempty_text(meta, "s3Key", p),
        file_size=file_size,
        uploaded_by=_nonempty_text(meta, "uploadedBy", p, max_len=256),
        s3_url=_optional(meta, "s3Url", str, p),
        content_type=_optional(meta, "contentType", str, p),
        uploaded_at=_optional(meta, "uploadedAt", int, p),
        description=_optional(meta, "description", str, p),
        sha256=sha256,
    )
    known_keys = {"eventId", "schemaVersion", "eventType", "timestamp", "fileMetadata"}
    extra = {k: v for k, v in doc.items() if k not in known_keys}
    return FileEvent(
        event_type=event_type,
        file=file,
        timestamp=timestamp,
        event_id=event_id,
        schema_version=schema_version,
        extra=extra,
    )


def _reject_constant(name: str) -> float:
    """JSON has no NaN/Infinity; Python's parser accepts them unless told not to."""
    raise ValueError(f"{name} is not valid JSON")
