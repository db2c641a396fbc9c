import json

import pytest

from file_pipeline.errors import InvalidEventError
from file_pipeline.events.schema import (
    PROCESSED_EVENT_TYPES,
    SCHEMA_VERSION,
    EventType,
    FileMetadata,
    new_event,
    parse_event,
)

META = FileMetadata(
    id="3f0c1a9e-8d1b-4b6f-9a51-0c2d5e7f8a90",
    filename="vacation-photo.jpg",
    s3_key="uploads/alice/3f0c1a9e-8d1b-4b6f-9a51-0c2d5e7f8a90/vacation-photo.jpg",
    s3_url="http://localhost:9000/files/uploads/alice/3f0c1a9e/vacation-photo.jpg",
    file_size=2621440,
    content_type="image/jpeg",
    uploaded_by="alice",
    uploaded_at=1696500000000,
    description=None,
    sha256="a" * 64,
)

# Exactly what the seed's Java FileEventProducer writes (Jackson): no eventId/schemaVersion/sha256.
SEED_EVENT = {
    "eventType": "UPLOADED",
    "fileMetadata": {
        "id": "abc-123",
        "filename": "vacation-photo.jpg",
        "s3Key": "uploads/alice/vacation-photo.jpg",
        "s3Url": "http://localhost:9000/bucket/uploads/alice/vacation-photo.jpg",
        "fileSize": 2621440,
        "contentType": "image/jpeg",
        "uploadedBy": "alice",
        "uploadedAt": 1696500000000,
        "description": None,
    },
    "timestamp": 1696500000000,
}


def test_our_event_round_trips_and_has_the_design_fields() -> None:
    event = new_event(EventType.UPLOADED, META, 1696500000000)
    doc = json.loads(event.to_json())
    assert set(doc) == {"eventId", "schemaVersion", "eventType", "timestamp", "fileMetadata"}
    assert doc["schemaVersion"] == SCHEMA_VERSION
    assert set(doc["fileMetadata"]) == {
        "id",
        "filename",
        "s3Key",
        "s3Url",
        "fileSize",
        "contentType",
        "uploadedBy",
        "uploadedAt",
        "description",
        "sha256",
    }
    parsed = parse_event(event.to_json().encode())
    assert parsed == event
    assert parsed.message_key == META.id
    assert parsed.dedup_key("file-events", 0, 7) == event.event_id


def test_seed_format_event_is_accepted_and_dedups_by_offset() -> None:
    parsed = parse_event(json.dumps(SEED_EVENT))
    assert parsed.known_type is EventType.UPLOADED
    assert parsed.event_id is None and parsed.schema_version is None
    assert parsed.file.sha256 is None
    assert parsed.file.s3_key == "uploads/alice/vacation-photo.jpg"
    assert parsed.dedup_key("file-events", 2, 41) == "file-events/2/41"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json at all", "not valid JSON"),
        (b'{"eventType": "UPLOADED", "fileMeta', "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (None, "tombstone"),
        (b'{"eventType": "UPLOADED", "timestamp": NaN}', "not valid JSON"),
    ],
)
def test_malformed_messages_are_rejected_with_a_reason(raw: bytes | None, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        parse_event(raw)


def _mutated(path: list[str], value: object) -> str:
    doc = json.loads(json.dumps(SEED_EVENT))
    target = doc
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["eventType"], "", "eventType"),
        (["eventType"], 7, "eventType"),
        (["eventType"], KeyError, "eventType"),
        (["timestamp"], "yesterday", "timestamp"),
        (["timestamp"], True, "timestamp"),
        (["fileMetadata"], KeyError, "fileMetadata"),
        (["fileMetadata", "id"], "", "fileMetadata.id"),
        (["fileMetadata", "id"], 42, "fileMetadata.id"),
        (["fileMetadata", "fileSize"], -1, "fileMetadata.fileSize"),
        (["fileMetadata", "fileSize"], "big", "fileMetadata.fileSize"),
        (["fileMetadata", "uploadedBy"], KeyError, "fileMetadata.uploadedBy"),
        (["fileMetadata", "s3Key"], "a\x00b", "fileMetadata.s3Key"),
        (["fileMetadata", "sha256"], "xyz", "fileMetadata.sha256"),
    ],
)
def test_schema_violations_name_the_field(path: list[str], value: object, field: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_event(_mutated(path, value))
    assert info.value.field == field


def test_unknown_schema_version_and_bad_event_id_are_rejected() -> None:
    doc = dict(SEED_EVENT, schemaVersion=2)
    with pytest.raises(InvalidEventError, match="unsupported schema version 2"):
        parse_event(json.dumps(doc))
    doc = dict(SEED_EVENT, eventId="not-a-uuid")
    with pytest.raises(InvalidEventError, match="UUID"):
        parse_event(json.dumps(doc))


def test_deleted_event_and_unknown_extra_fields_are_accepted() -> None:
    doc = dict(SEED_EVENT, eventType="DELETED", traceId="t-1")
    parsed = parse_event(json.dumps(doc))
    assert parsed.known_type is EventType.DELETED
    assert parsed.extra == {"traceId": "t-1"}
    assert "traceId" not in json.loads(parsed.to_json()), "only the contract's fields go out"


@pytest.mark.parametrize("event_type", ["DOWNLOADED", "SHARED", "ARCHIVED"])
def test_other_event_types_are_valid_events_this_consumer_does_not_act_on(
    event_type: str,
) -> None:
    """The tutorial's DOWNLOADED and SHARED, or a type added later: valid, so never
    dead-lettered; `known_type` says whether this consumer knows it at all."""
    parsed = parse_event(json.dumps(dict(SEED_EVENT, eventType=event_type)))
    assert parsed.event_type == event_type
    assert parsed.known_type is (None if event_type == "ARCHIVED" else EventType(event_type))
    assert parsed.known_type not in PROCESSED_EVENT_TYPES
