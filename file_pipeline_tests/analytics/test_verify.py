"""`file-pipeline verify` and its asset checks on the real services: damage done behind the
pipeline's back (a blob deleted or forged, a rendition or an index entry gone, an orphan object,
a file deleted without its outputs, a lagging sensor) is named, and `--repair` fixes what is safe.

The session database is shared, so every assertion is about this module's own files and objects
(by id or key), never about totals. Each test damages its own file and puts it back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner, Result
from confluent_kafka.admin import NewTopic
from PIL import Image

from file_pipeline.analytics.verify import (
    BLOB_PRESENT,
    CHECKS,
    NO_ORPHAN_OBJECTS,
    NO_OUTPUTS_OF_DELETED_FILES,
    RENDITIONS_PRESENT,
    check_consumer_lag,
    consumer_lag,
    read_consumer_lag,
)
from file_pipeline.cli import main
from file_pipeline.cli.runtime import Resources
from file_pipeline.db import files as file_rows
from file_pipeline.defs.analytics.checks import (
    MAX_CONSUMER_LAG,
    index_present,
    no_outputs_of_deleted_files,
    renditions_present,
)
from file_pipeline.events.cursor import SensorCursor
from file_pipeline.resources import KafkaResource, ObjectStorageResource, PostgresResource
from file_pipeline_tests.helpers import Pipeline, run_upload, uploaded_ids

pytestmark = pytest.mark.stack

TEXTS = ("blob.txt", "deep.txt", "index.txt", "deleted.txt")
IMAGES = {"photo.jpg": (200, 40, 40), "check-photo.jpg": (40, 200, 40)}


@pytest.fixture(scope="module")
def own_files(
    session_pipeline: Pipeline,
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    postgres: PostgresResource,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """This module's files, uploaded and processed once: filename -> id. Each test damages a
    file of its own, so none depends on another."""
    folder = tmp_path_factory.mktemp("verify")
    tag = uuid.uuid4().hex[:8]
    for name in TEXTS:
        (folder / name).write_text(f"{name} of verify run {tag}: the stores must agree")
    for name, colour in IMAGES.items():
        Image.new("RGB", (320, 240), colour).save(folder / name, "JPEG")
    ids = uploaded_ids(run_upload(definitions, instance, [folder], uploaded_by=f"verify-{tag}"))
    session_pipeline.drain()
    with postgres.connection() as conn:
        rows = file_rows.get_files(conn, ids)
    states = {row["filename"]: (row["status"], row["processed_at"]) for row in rows.values()}
    assert all(status == "clean" and done for status, done in states.values()), states
    return {row["filename"]: file_id for file_id, row in rows.items()}


def _verify(*args: str) -> Result:
    return CliRunner().invoke(main, ["verify", *args])


def _json(result: Result) -> dict[str, Any]:
    return json.loads(result.stdout)


def _subjects(document: dict[str, Any], check: str) -> dict[str, str]:
    """subject -> detail of one check's violations in `verify --json` output."""
    return {v["subject"]: v["detail"] for v in document["checks"][check]["violations"]}


def _key(postgres: PostgresResource, file_id: str) -> str:
    with postgres.connection() as conn:
        row = file_rows.get_file(conn, file_id)
    assert row is not None
    return row["s3_key"]


def _renditions(postgres: PostgresResource, file_id: str) -> dict[str, str]:
    with postgres.connection() as conn:
        return dict(
            conn.execute(
                "SELECT rendition, s3_key FROM thumbnails WHERE file_id = %s", (file_id,)
            ).fetchall()
        )


def _example_subjects(result: dg.AssetCheckResult) -> set[str]:
    return {example["subject"] for example in result.metadata["examples"].value}


def test_a_missing_blob_is_named_and_not_repairable(
    own_files: dict[str, str], storage: ObjectStorageResource, postgres: PostgresResource
) -> None:
    file_id = own_files["blob.txt"]
    key = _key(postgres, file_id)
    data = storage.get_bytes(key)
    storage.delete(key)
    try:
        found = _verify()
        assert found.exit_code == 1, found.output
        named = [line.split() for line in found.output.splitlines()]
        assert any(words[:2] == [BLOB_PRESENT, file_id] for words in named), found.output
        assert f"blob missing: {key}" in found.output

        repaired = _verify("--repair")
        assert repaired.exit_code == 1, "the blob is still missing"
        assert f"not repairable: {BLOB_PRESENT} {file_id}" in repaired.output
        assert not storage.exists(key)
    finally:
        storage.put_bytes(key, data, "text/plain")
    assert file_id not in _subjects(_json(_verify("--json")), BLOB_PRESENT)


def test_a_missing_rendition_is_re_driven_by_repair(
    own_files: dict[str, str],
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    session_pipeline: Pipeline,
) -> None:
    file_id = own_files["photo.jpg"]
    renditions = _renditions(postgres, file_id)
    assert set(renditions) == {"thumbnail", "medium", "preview"}
    storage.delete(renditions["preview"])

    found = _json(_verify("--json"))
    assert "object of rendition preview missing" in _subjects(found, RENDITIONS_PRESENT)[file_id]

    repaired = _verify("--repair", "--json")
    repair = _json(repaired)["repair"]
    assert file_id in repair["reprocessed_files"]
    assert "thumbnails" in repair["reprocess_stages"]
    with postgres.connection() as conn:
        batches = conn.execute(
            "SELECT b.id, r.stages, r.force FROM reprocess_requests r"
            " JOIN reprocess_batches b ON b.request_id = r.id"
            " WHERE r.source = 'verify' AND r.id = %s AND %s = ANY(b.file_ids)",
            (repair["reprocess_request_id"], file_id),
        ).fetchall()
    assert len(batches) == 1, "one request, source verify, a batch holding the file"
    batch_id, stages, force = batches[0]
    assert "thumbnails" in stages and force, "forced: the outcome says done"

    # What reprocess_sensor does with the request: the rendition is made again.
    runs = session_pipeline.reprocess(str(batch_id - 1))
    assert runs and all(run.success for _, run in runs)
    assert storage.exists(renditions["preview"])
    assert file_id not in _subjects(_json(_verify("--json")), RENDITIONS_PRESENT)


def test_an_orphan_rendition_is_reported_past_the_grace_period_and_removed(
    own_files: dict[str, str], storage: ObjectStorageResource
) -> None:
    orphan = f"thumbnails/{uuid.uuid4()}/thumbnail.webp"
    storage.put_bytes(orphan, b"no file has this rendition", "image/webp")
    try:
        young = _json(_verify("--json"))
        assert orphan not in _subjects(young, NO_ORPHAN_OBJECTS), "may belong to a file in flight"

        found = _verify("--json", "--grace-seconds", "0")
        assert found.exit_code == 1
        assert _subjects(_json(found), NO_ORPHAN_OBJECTS)[orphan] == (
            "rendition of a file no row knows"
        )
        assert orphan in _subjects(_json(found), NO_OUTPUTS_OF_DELETED_FILES)

        repaired = _verify("--repair", "--grace-seconds", "0")
        assert f"removed {orphan}" in repaired.output
        assert not storage.exists(orphan)
    finally:
        if storage.exists(orphan):
            storage.delete(orphan)


def test_deep_catches_same_size_bytes_with_another_hash(
    own_files: dict[str, str], storage: ObjectStorageResource, postgres: PostgresResource
) -> None:
    file_id = own_files["deep.txt"]
    key = _key(postgres, file_id)
    data = storage.get_bytes(key)
    storage.put_bytes(key, data.swapcase(), "text/plain")
    try:
        shallow = _json(_verify("--json"))
        assert file_id not in _subjects(shallow, BLOB_PRESENT), "the size still matches"

        deep = _verify("--deep", "--json")
        assert deep.exit_code == 1
        assert "sha256" in _subjects(_json(deep), BLOB_PRESENT)[file_id]
    finally:
        storage.put_bytes(key, data, "text/plain")
    assert file_id not in _subjects(_json(_verify("--deep", "--json")), BLOB_PRESENT)


def test_json_lists_every_check(own_files: dict[str, str]) -> None:
    result = _verify("--json")
    document = _json(result)
    assert list(document["checks"]) == list(CHECKS)
    assert result.exit_code == (1 if document["violations"] else 0)
    assert document["checks"][BLOB_PRESENT]["checked"] >= len(own_files)
    assert document["checks"][RENDITIONS_PRESENT]["checked"] >= len(IMAGES)
    assert document["repair"] is None
    assert len(document["violations"]) == sum(
        len(check["violations"]) for check in document["checks"].values()
    )


def test_asset_checks_fail_on_violations_of_own_files(
    own_files: dict[str, str], resources: Resources, storage, postgres
) -> None:
    photo, indexed, deleted = (
        own_files["check-photo.jpg"],
        own_files["index.txt"],
        own_files["deleted.txt"],
    )
    processing = resources.processing
    assert photo not in _example_subjects(
        renditions_present(storage=storage, postgres=postgres, processing=processing)
    )
    thumbnail = _renditions(postgres, photo)["thumbnail"]
    data = storage.get_bytes(thumbnail)
    storage.delete(thumbnail)
    try:
        damaged = renditions_present(storage=storage, postgres=postgres, processing=processing)
        assert not damaged.passed and photo in _example_subjects(damaged)
    finally:
        storage.put_bytes(thumbnail, data, "image/webp")

    with postgres.connection() as conn:
        entry = conn.execute(
            "DELETE FROM search_index WHERE file_id = %s"
            " RETURNING filename, uploaded_by, content_type, body",
            (indexed,),
        ).fetchone()
    try:
        damaged = index_present(postgres=postgres)
        assert not damaged.passed and indexed in _example_subjects(damaged)
    finally:
        with postgres.connection() as conn:
            conn.execute(
                "INSERT INTO search_index (file_id, filename, uploaded_by, content_type, body)"
                " VALUES (%s, %s, %s, %s, %s)",
                (indexed, *entry),
            )
    assert indexed not in _example_subjects(index_present(postgres=postgres))

    key = _key(postgres, deleted)
    with postgres.connection() as conn:  # deleted without its DELETED event being processed
        conn.execute(
            "UPDATE files SET status = 'deleted', deleted_at = now() WHERE id = %s", (deleted,)
        )
    try:
        context = dg.build_asset_check_context()
        damaged = no_outputs_of_deleted_files(context, storage=storage, postgres=postgres)
        assert not damaged.passed
        assert {deleted, key} <= _example_subjects(damaged), "its index row and its blob"
    finally:
        with postgres.connection() as conn:
            conn.execute("DELETE FROM search_index WHERE file_id = %s", (deleted,))
        storage.delete(key)


@pytest.fixture
def lag_topic(kafka: KafkaResource) -> Iterator[KafkaResource]:
    """A one-partition events topic of the test's own, so its offsets are known exactly."""
    topic = f"verify-lag-{uuid.uuid4().hex[:8]}"
    admin = kafka.admin()
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    try:
        yield KafkaResource(bootstrap_servers=kafka.bootstrap_servers, file_events_topic=topic)
    finally:
        admin.delete_topics([topic])[topic].result(30)


def test_consumer_lag_is_measured_from_the_sensor_cursor(
    lag_topic: KafkaResource, kafka: KafkaResource
) -> None:
    topic = lag_topic.file_events_topic
    produced = MAX_CONSUMER_LAG + 1
    producer = lag_topic.producer()
    for n in range(produced):
        producer.produce(topic, key=b"k", value=str(n).encode())
        if n % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    topic_id = lag_topic.topic_id(topic)
    behind = SensorCursor(topic, topic_id, {0: 0}).serialize()
    caught_up = SensorCursor(topic, topic_id, {0: produced}).serialize()

    assert consumer_lag(lag_topic, behind) == produced
    assert consumer_lag(lag_topic, SensorCursor(topic, topic_id, {0: 10}).serialize()) == (
        produced - 10
    )
    assert consumer_lag(lag_topic, None) is None, "no cursor: the sensor never ticked"
    recreated = SensorCursor(topic, "another-topic-id", {0: produced}).serialize()
    assert consumer_lag(lag_topic, recreated) == produced, "the sensor would start over"

    assert consumer_lag(lag_topic, caught_up) == 0
    lagging = check_consumer_lag(
        consumer_lag(lag_topic, behind), max_lag=MAX_CONSUMER_LAG, topic=topic
    )
    assert [v.detail for v in lagging.violations] == [
        f"{produced} events not yet read by file_events_sensor (more than {MAX_CONSUMER_LAG})"
    ]

    missing = KafkaResource(
        bootstrap_servers=kafka.bootstrap_servers, file_events_topic=f"{topic}-missing"
    )
    reading = read_consumer_lag(missing, behind, timeout_seconds=5)
    assert reading.lag is None and "does not exist" in (reading.error or "")


def test_no_cursor_means_unknown_lag_not_a_violation() -> None:
    """The sensor never ticked (no cursor): nothing to measure, which is not a violation;
    Kafka not answering is one."""
    unknown = check_consumer_lag(None, max_lag=10, topic="file-events")
    assert unknown.violations == [] and "no cursor" in (unknown.note or "")
    unreachable = check_consumer_lag(None, max_lag=10, topic="file-events", lag_error="timed out")
    assert [v.detail for v in unreachable.violations] == ["consumer lag unknown: timed out"]
