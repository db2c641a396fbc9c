"""The `file-events` wire contract: a superset of the seed's Java `FileEvent`, as one pydantic
model with the wire names as aliases.

Our producer writes `eventId`, `schemaVersion` and `sha256` on top of the seed's fields; consumers
accept events exactly as the seed's `FileEventProducer` writes them (without those three), deriving
the dedup key from the message's topic/partition/offset instead. Event types other than the ones
this consumer acts on (UPLOADED, DELETED) are valid events: the sensor counts them and leaves them
alone, so a newer producer never stalls an older consumer.
"""

from __future__ import annotations

import json
import uuid
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
)

from file_pipeline.errors import InvalidEventError

SCHEMA_VERSION = 1


class EventType(str, Enum):
    UPLOADED = "UPLOADED"
    DELETED = "DELETED"
    DOWNLOADED = "DOWNLOADED"
    SHARED = "SHARED"


PROCESSED_EVENT_TYPES = frozenset({EventType.UPLOADED, EventType.DELETED})
"""The event types that trigger processing; every other type is counted and left alone."""


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("contains a lone surrogate (not UTF-8)") from exc
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _uuid(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise ValueError("must be a UUID") from exc
    return value


WireStr = Annotated[StrictStr, AfterValidator(_no_nul), AfterValidator(_encodable)]
"""A string PostgreSQL and Kafka can hold: no NUL, no lone surrogate."""
Text = Annotated[WireStr, AfterValidator(_not_blank)]
"""A non-blank `WireStr`."""
BigInt = Annotated[StrictInt, Field(ge=-(2**63), lt=2**63)]
"""An integer a BIGINT column holds."""


class _WireModel(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    def wire_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class FileMetadata(_WireModel):
    """What the seed calls `FileMetadata`: the `files` row as it travels in an event."""

    id: Annotated[Text, Field(max_length=64)]
    filename: Annotated[Text, Field(max_length=4096)]
    s3_key: Annotated[Text, Field(max_length=4096)] = Field(alias="s3Key")
    file_size: Annotated[StrictInt, Field(ge=0, lt=2**63)] = Field(alias="fileSize")
    uploaded_by: Annotated[Text, Field(max_length=256)] = Field(alias="uploadedBy")
    s3_url: WireStr | None = Field(default=None, alias="s3Url")
    content_type: WireStr | None = Field(default=None, alias="contentType")
    uploaded_at: BigInt | None = Field(default=None, alias="uploadedAt")
    description: WireStr | None = Field(default=None, alias="description")
    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, alias="sha256"
    )


class FileEvent(_WireModel):
    """One message of `file-events`. Unknown top-level fields are accepted and kept in `extra`."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="allow")

    event_type: Annotated[Text, Field(max_length=64)] = Field(alias="eventType")
    timestamp: BigInt
    file: FileMetadata = Field(alias="fileMetadata")
    event_id: Annotated[StrictStr, AfterValidator(_uuid)] | None = Field(
        default=None, alias="eventId"
    )
    schema_version: Literal[1] | None = Field(default=None, alias="schemaVersion")
    shared_with: Annotated[Text, Field(max_length=256)] | None = Field(
        default=None, alias="sharedWith"
    )
    """Who a SHARED event's file was shared with (absent from every other event)."""

    @property
    def known_type(self) -> EventType | None:
        """The event type, or None for a type this consumer does not know."""
        try:
            return EventType(self.event_type)
        except ValueError:
            return None

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def message_key(self) -> str:
        """Kafka key: the file id, so every event of one file lands on one partition, in order."""
        return self.file.id

    def dedup_key(self, topic: str, partition: int, offset: int) -> str:
        """Stable identity of this event for idempotent processing."""
        return self.event_id or f"{topic}/{partition}/{offset}"

    def to_json(self) -> str:
        omitted = set(self.extra) | ({"shared_with"} if self.shared_with is None else set())
        doc = self.model_dump(mode="json", by_alias=True, exclude=omitted)
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def new_event(
    event_type: EventType, file: FileMetadata, timestamp_ms: int, *, shared_with: str | None = None
) -> FileEvent:
    """An event as our own producer writes it: with a fresh `eventId` and `schemaVersion`."""
    return FileEvent(
        event_type=event_type.value,
        file=file,
        timestamp=timestamp_ms,
        event_id=str(uuid.uuid4()),
        schema_version=SCHEMA_VERSION,
        shared_with=shared_with,
    )


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
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise InvalidEventError(f"value is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidEventError(f"value must be a JSON object, got {type(doc).__name__}")
    version = doc.get("schemaVersion")
    if version is not None and version != SCHEMA_VERSION and not isinstance(version, bool):
        raise InvalidEventError(
            f"unsupported schema version {version} (this consumer reads {SCHEMA_VERSION})",
            field="schemaVersion",
        )
    try:
        return FileEvent.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise InvalidEventError(_reason(first), field=field) from exc


def _reason(error: Any) -> str:
    if error["type"] == "missing":
        return "is required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _reject_constant(name: str) -> float:
    """JSON has no NaN/Infinity; Python's parser accepts them unless told not to."""
    raise ValueError(f"{name} is not valid JSON")
