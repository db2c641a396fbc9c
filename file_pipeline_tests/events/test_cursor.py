"""The sensor's cursor, run keys and batch ranges as plain data (no Kafka)."""

import json

import pytest

from file_pipeline.events.cursor import SensorCursor, run_key, starting_point
from file_pipeline.events.offsets import (
    OffsetRange,
    PolledBatch,
    ReceivedEvent,
    offset_ranges,
    reject_unknown_files,
)
from file_pipeline.events.schema import EventType, FileMetadata, new_event


def _received(partition: int, offset: int, file_id: str, kind: EventType) -> ReceivedEvent:
    meta = FileMetadata(
        id=file_id, filename=f"{file_id}.txt", s3_key=f"k/{file_id}", file_size=1, uploaded_by="u"
    )
    event = new_event(kind, meta, 1)
    return ReceivedEvent(partition, offset, event, event.dedup_key("t", partition, offset))


def test_cursor_round_trips_with_its_topic_identity() -> None:
    cursor = SensorCursor("file-events", "id-1", {2: 40, 0: 7})
    assert SensorCursor.parse(cursor.serialize()) == cursor
    assert json.loads(cursor.serialize())["offsets"] == {"0": 7, "2": 40}


@pytest.mark.parametrize("text", [None, "", "not json", "[]", '{"offsets": {}}', '{"topic": 1,'])
def test_an_unreadable_cursor_is_a_new_cursor(text: str | None) -> None:
    assert SensorCursor.parse(text) is None


def test_a_cursor_from_before_topic_ids_still_resumes() -> None:
    old = json.dumps({"topic": "file-events", "offsets": {"0": 5}})
    start = starting_point(SensorCursor.parse(old), "file-events", "id-1")
    assert start.offsets == {0: 5} and not start.restart_from_beginning


def test_starting_point_resumes_restarts_or_starts_fresh() -> None:
    cursor = SensorCursor("file-events", "id-1", {0: 5, 1: 9})
    resumed = starting_point(cursor, "file-events", "id-1")
    assert resumed.offsets == {0: 5, 1: 9} and not resumed.restart_from_beginning
    recreated = starting_point(cursor, "file-events", "id-2")
    assert recreated.restart_from_beginning
    assert "deleted and created again" in recreated.reason
    other_topic = starting_point(cursor, "other-events", "id-9")
    assert other_topic.offsets == {} and not other_topic.restart_from_beginning
    new = starting_point(None, "file-events", "id-1")
    assert new.offsets == {} and "no cursor" in new.reason


def test_run_keys_are_unique_per_topic_identity_and_offsets() -> None:
    ranges = [OffsetRange(0, 3, 9), OffsetRange(2, 0, 0)]
    key = run_key("file-events", "id-1", ranges)
    assert key == "file-events@id-1:0:3-9,2:0-0"
    assert run_key("file-events", "id-2", ranges) != key, "a recreated topic's batch is new"
    assert run_key("file-events", "id-1", [OffsetRange(0, 3, 10)]) != key
    assert run_key("file-events", None, ranges) == "file-events:0:3-9,2:0-0"


def test_batch_ranges_cover_each_partitions_events() -> None:
    assert offset_ranges([(1, 7), (0, 4), (1, 3), (0, 5)]) == [
        OffsetRange(0, 4, 5),
        OffsetRange(1, 3, 7),
    ]
    assert offset_ranges([]) == []
    batch = PolledBatch(
        events=[_received(0, 4, "a", EventType.UPLOADED), _received(0, 6, "b", EventType.DELETED)],
        next_offsets={0: 7, 1: 2},
        high_watermarks={0: 10, 1: 2},
    )
    assert batch.ranges() == [OffsetRange(0, 4, 6)]
    assert batch.lag() == 3


def test_uploads_of_unknown_files_are_set_aside_without_changing_the_batch() -> None:
    events = [
        _received(0, 1, "known", EventType.UPLOADED),
        _received(0, 2, "ghost", EventType.UPLOADED),
        _received(0, 3, "ghost", EventType.DELETED),
    ]
    kept, rejected = reject_unknown_files(events, {"known"})
    assert [r.offset for r in kept] == [1, 3], "a DELETED event of an unknown file is harmless"
    assert [(r.offset, r.reason) for r in rejected] == [
        (2, "unknown file: no row in files for id ghost")
    ]
    assert len(events) == 3, "the input list is not changed"
