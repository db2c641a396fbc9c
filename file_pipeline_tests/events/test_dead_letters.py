"""Dead letters you can act on: list, show and replay them (CLI and job), with a replay count that
follows a message round the loop and a limit after which it is left alone, and the backlog by
reason recorded on `file_events`; on the real Kafka, PostgreSQL and MinIO."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from file_pipeline.cli import main
from file_pipeline.defs.processing.dead_letters import REPLAY_OP, dead_letter_backlog_sensor
from file_pipeline.events.dead_letters import (
    REPLAYED_COUNT,
    REPLAYED_FROM_OFFSET,
    REPLAYED_FROM_PARTITION,
    DeadLetter,
    backlog_by_reason,
    read_dead_letters,
    reason_kind,
    replay,
)
from file_pipeline.resources import KafkaResource, ObjectStorageResource, PostgresResource
from file_pipeline_tests.helpers import Pipeline, read_topic


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("unknown file: no row in files for id 1b2c", "unknown file"),
        (
            "value is not valid JSON: Expecting value: line 1 column 1 (char 0)",
            "value is not valid JSON",
        ),
        (
            "fileMetadata.sha256: String should match pattern '^[0-9a-f]{64}$'",
            "fileMetadata.sha256",
        ),
        ("message has no value (tombstone)", "message has no value (tombstone)"),
        ("value must be a JSON object, got list", "value must be a JSON object, got list"),
        ("", "(no reason)"),
    ],
)
def test_reason_kind_is_the_text_before_the_first_colon(reason: str, kind: str) -> None:
    assert reason_kind(reason) == kind


def test_reason_kind_groups_the_same_cause_of_different_files() -> None:
    reasons = [f"unknown file: no row in files for id {uuid.uuid4()}" for _ in range(3)]
    assert {reason_kind(r) for r in reasons} == {"unknown file"}


def _letter(offset: int, replay_count: int) -> DeadLetter:
    return DeadLetter(
        partition=0,
        offset=offset,
        key=b"k",
        value=b"{}",
        reason="unknown file: no row in files for id k",
        source_topic="file-events",
        source_partition=0,
        source_offset=offset,
        stage="file_events_sensor",
        replay_count=replay_count,
        timestamp_ms=None,
    )


def test_replay_leaves_letters_at_the_limit_alone_and_sends_nothing() -> None:
    """Nothing is published (the broker address is closed: sending anything would fail)."""
    kafka = KafkaResource(bootstrap_servers="127.0.0.1:1", delivery_timeout_seconds=1)
    letters = [_letter(1, 3), _letter(2, 4)]
    result = replay(kafka, letters, limit=3)
    assert result.replayed == [] and result.deliveries == []
    assert result.over_limit == letters


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _produce(kafka: KafkaResource, key: str, value: bytes) -> None:
    producer = kafka.producer()
    producer.produce(kafka.file_events_topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


def _seed_upload_event(file_id: str, s3_key: str) -> bytes:
    """An UPLOADED event as the seed's Java producer writes it."""
    return json.dumps(
        {
            "eventType": "UPLOADED",
            "fileMetadata": {
                "id": file_id,
                "filename": s3_key.rsplit("/", 1)[1],
                "s3Key": s3_key,
                "fileSize": 1,
                "uploadedBy": "javauser",
            },
            "timestamp": 1696500000000,
        }
    ).encode()


def _insert_seed_row(
    postgres: PostgresResource, file_id: str, s3_key: str, storage: ObjectStorageResource, size: int
) -> None:
    """The row the seed's Java client writes: its columns only, no hash, no status."""
    with postgres.connection() as conn:
        conn.execute(
            "INSERT INTO files (id, filename, s3_key, s3_url, file_size, content_type,"
            " uploaded_by, uploaded_at) VALUES (%s, %s, %s, %s, %s, 'text/plain', 'javauser', %s)",
            (
                file_id,
                s3_key.rsplit("/", 1)[1],
                s3_key,
                storage.object_url(s3_key),
                size,
                1696500000000,
            ),
        )


def _unknown_upload(kafka: KafkaResource, pipeline: Pipeline) -> tuple[str, str, DeadLetter]:
    """An UPLOADED event of a file with no row, dead-lettered by the sensor: (id, key, letter)."""
    file_id = str(uuid.uuid4())
    s3_key = f"uploads/javauser/dlq-{file_id[:8]}.txt"
    _produce(kafka, file_id, _seed_upload_event(file_id, s3_key))
    pipeline.drain()
    (letter,) = _letters_of(kafka, file_id)
    return file_id, s3_key, letter


def _letters_of(kafka: KafkaResource, key: str) -> list[DeadLetter]:
    return [letter for letter in read_dead_letters(kafka) if letter.key == key.encode()]


def _replays_of(kafka: KafkaResource, key: str) -> list[dict[str, bytes]]:
    """Headers of the replayed messages of `key` on `file-events`, in the order sent."""
    messages = [m for m in read_topic(kafka, kafka.file_events_topic) if m.key() == key.encode()]
    messages.sort(key=lambda m: (m.partition(), m.offset()))  # one key: one partition
    replays = [dict(m.headers() or []) for m in messages]
    return [headers for headers in replays if REPLAYED_COUNT in headers]


def _count(postgres: PostgresResource, sql: str, *params: object) -> int:
    with postgres.connection() as conn:
        return conn.execute(sql, params).fetchone()[0]


@pytest.mark.stack
def test_a_dead_letter_replayed_once_its_file_exists_is_processed(
    pipeline: Pipeline, kafka: KafkaResource, postgres: PostgresResource, storage
) -> None:
    file_id, s3_key, letter = _unknown_upload(kafka, pipeline)
    assert letter.reason == f"unknown file: no row in files for id {file_id}"
    assert letter.source_topic == kafka.file_events_topic and letter.replay_count == 0
    assert letter.stage == "file_events_sensor"

    data = b"the file the event was about, stored after its event"
    storage.put_bytes(s3_key, data, "text/plain")
    _insert_seed_row(postgres, file_id, s3_key, storage, len(data))
    replayed = _cli("dlq", "replay", "--offsets", str(letter.offset))
    assert replayed.exit_code == 0, replayed.output
    assert f"replayed {letter.offset} -> {kafka.file_events_topic}[" in replayed.output
    assert "1 replayed, 0 over the limit" in replayed.output

    runs = pipeline.drain()
    assert runs and all(run.success for run in runs)
    assert _count(postgres, "SELECT count(*) FROM notifications WHERE file_id = %s", file_id) == 1
    assert (
        _count(
            postgres,
            "SELECT count(*) FROM files WHERE id = %s AND processed_at IS NOT NULL",
            file_id,
        )
        == 1
    )
    (headers,) = _replays_of(kafka, file_id)
    assert headers[REPLAYED_COUNT] == b"1"
    assert headers[REPLAYED_FROM_OFFSET] == str(letter.offset).encode()
    assert headers[REPLAYED_FROM_PARTITION] == str(letter.partition).encode()
    assert _letters_of(kafka, file_id) == [letter], "not dead-lettered again"


@pytest.mark.stack
def test_a_replay_that_fails_again_comes_back_counted_until_the_limit(
    pipeline: Pipeline, kafka: KafkaResource
) -> None:
    file_id, _, letter = _unknown_upload(kafka, pipeline)
    for expected in (1, 2, 3):
        result = _cli("dlq", "replay", "--offsets", str(letter.offset))
        assert result.exit_code == 0, result.output
        pipeline.drain()
        latest = _letters_of(kafka, file_id)[-1]
        assert latest.offset > letter.offset, "a new dead letter"
        assert latest.replay_count == expected
        assert latest.reason == letter.reason and latest.value == letter.value
        letter = latest
    assert [h[REPLAYED_COUNT] for h in _replays_of(kafka, file_id)] == [b"1", b"2", b"3"]

    held = _cli("dlq", "replay", "--offsets", str(letter.offset))
    assert held.exit_code == 0, held.output
    assert f"over the limit {letter.offset}: replayed 3 times already (limit 3)" in held.output
    assert "0 replayed, 1 over the limit" in held.output
    assert len(_replays_of(kafka, file_id)) == 3, "nothing sent"

    forced = _cli("dlq", "replay", "--offsets", str(letter.offset), "--force")
    assert forced.exit_code == 0, forced.output
    assert "1 replayed, 0 over the limit" in forced.output
    last = _replays_of(kafka, file_id)[-1]
    assert last[REPLAYED_COUNT] == b"4"
    assert last[REPLAYED_FROM_OFFSET] == str(letter.offset).encode()
    pipeline.drain()
    assert _letters_of(kafka, file_id)[-1].replay_count == 4


@pytest.mark.stack
def test_list_show_and_replay_say_what_is_there(pipeline: Pipeline, kafka: KafkaResource) -> None:
    garbage_key = f"dlq-garbage-{uuid.uuid4().hex[:8]}"
    garbage = b'{"eventType": "UPLOADED", "fileMeta'
    _produce(kafka, garbage_key, garbage)
    file_id, _, unknown = _unknown_upload(kafka, pipeline)
    (bad,) = _letters_of(kafka, garbage_key)

    listing = _cli("dlq", "list", "--reason", "NOT VALID json")
    assert listing.exit_code == 0, listing.output
    (line,) = [line for line in listing.output.splitlines() if line.endswith(garbage_key)]
    assert re.fullmatch(
        rf"\s*{bad.offset}  replayed 0  value is not valid JSON: .+  "
        rf"{re.escape(kafka.file_events_topic)}\[{bad.source_partition}\]@{bad.source_offset}  "
        rf"key {garbage_key}",
        line,
    ), line
    assert file_id not in listing.output, "another reason"

    as_json = _cli("dlq", "list", "--reason", "unknown file", "--json")
    assert as_json.exit_code == 0, as_json.output
    (entry,) = [e for e in json.loads(as_json.output) if e["key"] == file_id]
    assert entry["offset"] == unknown.offset and entry["reason_kind"] == "unknown file"
    assert entry["source_topic"] == kafka.file_events_topic and entry["replay_count"] == 0
    assert garbage_key not in as_json.output

    shown = _cli("dlq", "show", str(unknown.offset))
    assert shown.exit_code == 0, shown.output
    assert re.search(rf"^key\s+{file_id}$", shown.output, re.M)
    assert re.search(
        rf"^  dlq.reason\s+unknown file: no row in files for id {file_id}$", shown.output, re.M
    )
    assert re.search(r"^  dlq.replay.count\s+0$", shown.output, re.M)
    assert re.search(r"^  dlq.stage\s+file_events_sensor$", shown.output, re.M)
    assert '\n  "eventType": "UPLOADED",\n' in shown.output, "pretty-printed JSON"
    shown_bad = _cli("dlq", "show", str(bad.offset))
    assert shown_bad.exit_code == 0, shown_bad.output
    assert repr(garbage) in shown_bad.output, "not JSON: its repr"

    beyond = unknown.offset + 1_000_000
    absent = _cli("dlq", "show", str(beyond))
    assert absent.exit_code == 1
    assert f"no dead letter at offset {beyond} of {kafka.dead_letter_topic}" in absent.output
    unmatched = _cli("dlq", "replay", "--offsets", f"{beyond},{beyond + 1}")
    assert unmatched.exit_code == 1 and "no dead letters match" in unmatched.output
    assert _cli("dlq", "replay", "--reason", f"no reason like {uuid.uuid4()}").exit_code == 1
    neither = _cli("dlq", "replay")
    assert neither.exit_code == 1 and "give either --reason or --offsets" in neither.output
    bad_offsets = _cli("dlq", "replay", "--offsets", "3,x")
    assert bad_offsets.exit_code == 2 and "not a comma-separated list" in bad_offsets.output


def _output_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (output,) = [e for e in result.all_node_events if e.is_successful_output]
    return {k: v.value for k, v in output.step_output_data.metadata.items()}


def _replay_job(
    definitions: dg.Definitions, instance: dg.DagsterInstance, config: dict[str, Any]
) -> dg.ExecuteInProcessResult:
    return definitions.resolve_job_def("replay_dead_letters").execute_in_process(
        run_config={"ops": {REPLAY_OP: {"config": config}}},
        instance=instance,
        raise_on_error=False,
    )


@pytest.mark.stack
def test_the_replay_job_replays_and_says_what(
    pipeline: Pipeline, kafka: KafkaResource, definitions, instance
) -> None:
    file_id, _, letter = _unknown_upload(kafka, pipeline)

    held = _replay_job(definitions, instance, {"offsets": [letter.offset], "limit": 0})
    assert held.success
    assert held.output_for_node(REPLAY_OP) == 0
    metadata = _output_metadata(held)
    assert (metadata["replayed"], metadata["over_limit"]) == (0, 1)
    assert [e["offset"] for e in metadata["over_limit_letters"]] == [letter.offset]
    assert _replays_of(kafka, file_id) == []

    result = _replay_job(definitions, instance, {"offsets": [letter.offset]})
    assert result.success
    metadata = _output_metadata(result)
    assert (metadata["replayed"], metadata["over_limit"]) == (1, 0)
    (replayed,) = metadata["replayed_letters"]
    assert replayed["offset"] == letter.offset and replayed["key"] == file_id
    assert replayed["replayed_to"].startswith(f"{kafka.file_events_topic}[")
    (headers,) = _replays_of(kafka, file_id)
    assert headers[REPLAYED_COUNT] == b"1"
    assert headers[REPLAYED_FROM_OFFSET] == str(letter.offset).encode()

    assert not _replay_job(definitions, instance, {}).success, "a selection is required"
    missing = _replay_job(definitions, instance, {"offsets": [letter.offset + 1_000_000]})
    assert not missing.success, "nothing matched"


def _tick(
    instance: dg.DagsterInstance, kafka: KafkaResource, cursor: str | None
) -> dg.SensorResult | dg.SkipReason:
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"kafka": kafka}
    ) as context:
        return dead_letter_backlog_sensor(context)


def _observed(result: dg.SensorResult | dg.SkipReason) -> dict[str, Any]:
    assert isinstance(result, dg.SensorResult), result
    (observation,) = result.asset_events
    assert isinstance(observation, dg.AssetObservation)
    assert observation.asset_key == dg.AssetKey("file_events")
    return {k: v.value for k, v in observation.metadata.items()}


@pytest.mark.stack
def test_the_backlog_sensor_records_the_backlog_when_it_changes(
    pipeline: Pipeline, kafka: KafkaResource, instance
) -> None:
    _produce(kafka, f"dlq-backlog-{uuid.uuid4().hex[:8]}", b"not json at all")
    pipeline.drain()
    counts = backlog_by_reason(kafka)
    assert counts.get("value is not valid JSON", 0) >= 1

    first = _tick(instance, kafka, None)
    observed = _observed(first)
    assert observed["dead_letters"] == sum(counts.values()) == len(read_dead_letters(kafka))
    assert observed["dead_letters_by_reason"] == counts
    assert json.loads(first.cursor) == counts

    unchanged = _tick(instance, kafka, first.cursor)
    assert isinstance(unchanged, dg.SkipReason)
    assert f"unchanged: {sum(counts.values())} letters" in (unchanged.skip_message or "")

    _produce(kafka, f"dlq-backlog-{uuid.uuid4().hex[:8]}", b"\x00\xff")
    pipeline.drain()
    changed = _observed(_tick(instance, kafka, first.cursor))
    assert changed["dead_letters"] == observed["dead_letters"] + 1
    by_reason = changed["dead_letters_by_reason"]
    assert by_reason.get("value is not UTF-8") == counts.get("value is not UTF-8", 0) + 1
