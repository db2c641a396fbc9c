"""Every file reaches its final state, and no event is skipped unseen: fail-closed scanning,
blobs that no longer match their rows, races between uploads and deletes, retention gaps and
recreated topics, on the real services."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from file_pipeline.analytics.reconciliation import reconcile
from file_pipeline.db import files as file_rows
from file_pipeline.defs.analytics.checks import no_events_skipped
from file_pipeline.defs.processing.sensors import NO_EVENTS_SKIPPED, file_events_sensor
from file_pipeline.events.cursor import SensorCursor
from file_pipeline.processing.notify import NotifyContext, publish_pending
from file_pipeline.processing.thumbnails import DEFAULT_RENDITIONS
from file_pipeline.resources import KafkaResource, ObjectStorageResource, PostgresResource
from file_pipeline_tests.helpers import (
    Pipeline,
    encrypted_zip,
    read_topic,
    run_delete,
    run_upload,
    uploaded_ids,
)
from file_pipeline_tests.services import private_clamd, wait_for

pytestmark = pytest.mark.stack

LOG = logging.getLogger(__name__)
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SMALL_LIMITS = {
    "MaxFileSize": "1M",
    "MaxScanSize": "1M",
    "MaxRecursion": "2",
    "MaxFiles": "3",
    "StreamMaxLength": "5M",
}


def _results(postgres: PostgresResource, file_id: str) -> dict[str, tuple[str, str]]:
    with postgres.connection() as conn:
        rows = conn.execute(
            "SELECT stage, outcome, detail FROM processing_results WHERE file_id = %s", (file_id,)
        ).fetchall()
    return {stage: (outcome, detail) for stage, outcome, detail in rows}


def _count(postgres: PostgresResource, sql: str, *params: object) -> int:
    with postgres.connection() as conn:
        return conn.execute(sql, params).fetchone()[0]


def _row(postgres: PostgresResource, file_id: str) -> dict:
    with postgres.connection() as conn:
        row = file_rows.get_file(conn, file_id)
    assert row is not None
    return row


def _kinds(postgres: PostgresResource, file_id: str) -> list[str]:
    with postgres.connection() as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT kind FROM notifications WHERE file_id = %s ORDER BY id", (file_id,)
            )
        ]


def _by_name(postgres: PostgresResource, ids: list[str]) -> dict[str, str]:
    with postgres.connection() as conn:
        return {row["filename"]: fid for fid, row in file_rows.get_files(conn, ids).items()}


def _zip_of_many(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(count):
            archive.writestr(f"part-{i}.txt", f"part {i} of the archive")
    return buffer.getvalue()


def test_files_clamd_cannot_fully_scan_are_failed_never_clean(
    pipeline: Pipeline, definitions, instance, postgres, storage, tmp_path: Path
) -> None:
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "locked.zip").write_bytes(encrypted_zip("secret.txt", b"confidential " * 50, b"pw"))
    (folder / "many.zip").write_bytes(_zip_of_many(10))
    (folder / "plain.txt").write_text("nothing hidden here")
    with private_clamd(tmp_path / "clamd", limits=SMALL_LIMITS) as scanner:
        pipeline.run_config = {"resources": {"clamav": {"config": {"port": scanner.port}}}}
        ids = uploaded_ids(run_upload(definitions, instance, [folder], uploaded_by="unscannable"))
        (run,) = pipeline.drain()
    assert run.success, "an unscannable file is that file's outcome, not the run's"
    names = _by_name(postgres, ids)
    for name, signature in (
        ("locked.zip", "Heuristics.Encrypted.Zip"),
        ("many.zip", "Heuristics.Limits.Exceeded.MaxFiles"),
    ):
        row = _row(postgres, names[name])
        assert row["status"] == "failed", f"{name} is never clean"
        assert row["processed_at"] is not None, "a final state nonetheless"
        outcome, detail = _results(postgres, names[name])["virus_scan"]
        assert outcome == "failed" and detail.startswith(f"unscannable: {signature}")
        assert _kinds(postgres, names[name]) == ["failed"]
        assert (
            _count(postgres, "SELECT count(*) FROM search_index WHERE file_id = %s", names[name])
            == 0
        )
    assert _row(postgres, names["plain.txt"])["status"] == "clean"
    (scan,) = run.asset_materializations_for_node("virus_scan")
    assert scan.metadata["files_failed"].value == 2


def test_unscannable_files_can_be_quarantined_instead(
    pipeline: Pipeline, definitions, instance, postgres, storage, tmp_path: Path
) -> None:
    (tmp_path / "upload").mkdir()
    (tmp_path / "upload" / "sealed.zip").write_bytes(encrypted_zip("a.txt", b"x" * 100, b"other"))
    with private_clamd(tmp_path / "clamd", limits=SMALL_LIMITS) as scanner:
        pipeline.run_config = {
            "resources": {
                "clamav": {"config": {"port": scanner.port}},
                "processing": {"config": {"unscannable": "quarantine"}},
            }
        }
        (file_id,) = uploaded_ids(
            run_upload(definitions, instance, [tmp_path / "upload"], uploaded_by="sealed")
        )
        original = _row(postgres, file_id)["s3_key"]
        pipeline.drain()
    row = _row(postgres, file_id)
    assert row["status"] == "infected" and row["s3_key"] == f"quarantine/{original}"
    assert storage.exists(row["s3_key"]) and not storage.exists(original)
    assert _kinds(postgres, file_id) == ["infected"]


def _insert_seed_row(
    postgres: PostgresResource, file_id: str, key: str, storage: ObjectStorageResource, size: int
) -> None:
    """The row the seed's Java client writes: its columns only, no hash, no status."""
    with postgres.connection() as conn:
        conn.execute(
            "INSERT INTO files (id, filename, s3_key, s3_url, file_size, content_type,"
            " uploaded_by, uploaded_at) VALUES (%s, %s, %s, %s, %s, 'text/plain', 'javauser', %s)",
            (file_id, key.rsplit("/", 1)[1], key, storage.object_url(key), size, 1696500000000),
        )


def _produce_seed_event(kafka: KafkaResource, event_type: str, file_id: str, key: str) -> None:
    event = {
        "eventType": event_type,
        "fileMetadata": {
            "id": file_id,
            "filename": key.rsplit("/", 1)[1],
            "s3Key": key,
            "fileSize": 1,
            "uploadedBy": "javauser",
        },
        "timestamp": 1696500000000,
    }
    producer = kafka.producer()
    producer.produce(kafka.file_events_topic, key=file_id.encode(), value=json.dumps(event))
    assert producer.flush(30) == 0


def test_a_blob_overwritten_behind_its_row_is_failed_not_processed(
    pipeline: Pipeline, storage, postgres, kafka
) -> None:
    """The seed's client writes uploads/<user>/<filename>: the same user uploading another file
    of that name overwrites the blob and adds a second row sharing the key."""
    key = f"uploads/javauser/report-{uuid.uuid4().hex[:6]}.txt"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    old, new = b"the first report", b"the second report, which is longer"
    storage.put_bytes(key, old, "text/plain")
    _insert_seed_row(postgres, first, key, storage, len(old))
    _produce_seed_event(kafka, "UPLOADED", first, key)
    storage.put_bytes(key, new, "text/plain")
    _insert_seed_row(postgres, second, key, storage, len(new))
    _produce_seed_event(kafka, "UPLOADED", second, key)

    runs = pipeline.drain()
    assert runs and all(r.success for r in runs)
    stale = _row(postgres, first)
    assert stale["status"] == "failed"
    outcome, detail = _results(postgres, first)["virus_scan"]
    assert outcome == "failed"
    assert detail.startswith(f"blob no longer matches its row: {len(new)} bytes")
    assert _kinds(postgres, first) == ["failed"]
    current = _row(postgres, second)
    assert current["status"] == "clean"
    assert current["sha256"] == hashlib.sha256(new).hexdigest(), "computed for a row without one"
    with postgres.connection() as conn:
        hits = [h["file_id"] for h in file_rows.search(conn, "longer", "javauser", 5)]
    assert hits == [second], "the stale row is never indexed with someone else's bytes"


def test_an_upload_processed_after_its_delete_leaves_nothing(
    pipeline: Pipeline, definitions, instance, storage, postgres, tmp_path: Path
) -> None:
    """UPLOADED and DELETED of one file in the same batch: no "ready", no outputs."""
    photo = tmp_path / "gone-before.jpg"
    photo.write_bytes(
        (
            Path(__file__).parents[2] / "file_pipeline" / "samples" / "vacation-photo.jpg"
        ).read_bytes()
    )
    (file_id,) = uploaded_ids(run_upload(definitions, instance, [photo], uploaded_by="racer"))
    assert run_delete(file_id, definitions, instance).success
    runs = pipeline.drain()
    assert runs and all(r.success for r in runs)
    assert _kinds(postgres, file_id) == ["deleted"]
    assert storage.list_keys(f"thumbnails/{file_id}/") == []
    for table in ("thumbnails", "exif_metadata", "search_index"):
        assert _count(postgres, f"SELECT count(*) FROM {table} WHERE file_id = %s", file_id) == 0


def test_runs_out_of_order_leave_no_outputs_of_a_deleted_file(
    pipeline: Pipeline, definitions, instance, storage, postgres, tmp_path: Path
) -> None:
    """The DELETED event's run finishes first; the UPLOADED event's run comes after."""
    (tmp_path / "late.txt").write_text("processed too late")
    (file_id,) = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by="late"))
    (upload_request,) = pipeline.tick().run_requests
    assert run_delete(file_id, definitions, instance).success
    (delete_request,) = pipeline.tick().run_requests
    assert pipeline.execute(delete_request).success
    assert pipeline.execute(upload_request).success
    assert _kinds(postgres, file_id) == ["deleted"]
    results = _results(postgres, file_id)
    assert results["search_index"][0] in ("skipped", "done")
    assert _count(postgres, "SELECT count(*) FROM search_index WHERE file_id = %s", file_id) == 0


def test_two_runs_publishing_at_once_send_each_notification_once(
    postgres: PostgresResource, kafka: KafkaResource
) -> None:
    before = {m.value() for m in read_topic(kafka, kafka.notifications_topic)}
    file_id = f"concurrent-{uuid.uuid4().hex[:8]}"
    with postgres.connection() as conn:
        for i in range(300):
            conn.execute(
                "INSERT INTO notifications (file_id, source_event, kind, recipient, message,"
                " payload) VALUES (%s, %s, 'processed', 'u', 'm', %s)",
                (file_id, f"event-{i}", json.dumps({"fileId": file_id, "n": i})),
            )
    context = NotifyContext(postgres=postgres, kafka=kafka, run_id=None, log=LOG)
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda: counts.append(publish_pending(context))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(counts) >= 300
    sent = [
        json.loads(m.value())
        for m in read_topic(kafka, kafka.notifications_topic)
        if m.value() not in before and json.loads(m.value()).get("fileId") == file_id
    ]
    assert sorted(n["n"] for n in sent) == list(range(300)), "each exactly once"
    assert (
        _count(
            postgres,
            "SELECT count(*) FROM notifications WHERE file_id = %s AND published_at IS NULL",
            file_id,
        )
        == 0
    )


def test_a_retry_finishes_a_quarantine_move_either_way_it_was_cut(
    pipeline: Pipeline, definitions, instance, storage, postgres, kafka, tmp_path: Path
) -> None:
    (tmp_path / "bad.txt").write_bytes(EICAR)
    (file_id,) = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by="mover"))
    original = _row(postgres, file_id)["s3_key"]
    quarantined = f"quarantine/{original}"

    # Cut after the copy, before the row followed it: the row still names the original.
    storage.copy(original, quarantined)
    pipeline.drain()
    row = _row(postgres, file_id)
    assert (row["status"], row["s3_key"]) == ("infected", quarantined)
    assert storage.exists(quarantined) and not storage.exists(original)

    # Cut after the row followed, before the original was removed: a redelivery finishes it.
    storage.copy(quarantined, original)
    _produce_seed_event(kafka, "UPLOADED", file_id, original)
    pipeline.drain()
    assert not storage.exists(original) and storage.exists(quarantined)
    assert _results(postgres, file_id)["virus_scan"][1].startswith("infected: "), "it stands"


def test_reconciliation_sweeps_renditions_and_quarantine_of_deleted_or_unknown_files(
    pipeline: Pipeline, definitions, instance, storage, postgres, tmp_path: Path
) -> None:
    sample = Path(__file__).parents[2] / "file_pipeline" / "samples" / "vacation-photo.jpg"
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "keep.jpg").write_bytes(sample.read_bytes())
    (keep,) = uploaded_ids(
        run_upload(definitions, instance, [tmp_path / "keep"], uploaded_by="sweep")
    )
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "bad.txt").write_bytes(EICAR)
    (infected,) = uploaded_ids(
        run_upload(definitions, instance, [tmp_path / "bad"], uploaded_by="sweep")
    )
    pipeline.drain()
    kept_renditions = storage.list_keys(f"thumbnails/{keep}/")
    assert len(kept_renditions) == len(DEFAULT_RENDITIONS)
    gone = str(uuid.uuid4())
    strays = [
        f"thumbnails/{gone}/thumbnail.webp",  # a file no row knows
        f"quarantine/uploads/sweep/{gone}/x.txt",
    ]
    for key in strays:
        storage.put_bytes(key, b"stray", "application/octet-stream")
    deleted_rendition = f"thumbnails/{infected}/preview.jpg"  # an infected file has none
    storage.put_bytes(deleted_rendition, b"stray", "image/jpeg")

    result = reconcile(storage, postgres, grace_seconds=0, log=LOG)
    assert set(strays) <= set(result.orphans)
    assert deleted_rendition in result.leftovers
    for key in [*strays, deleted_rendition]:
        assert not storage.exists(key)
    assert storage.list_keys(f"thumbnails/{keep}/") == kept_renditions
    assert storage.exists(_row(postgres, infected)["s3_key"]), "a live quarantined blob stays"


@pytest.fixture
def own_topic(kafka: KafkaResource) -> Iterator[KafkaResource]:
    """A one-partition events topic of the test's own, so offsets can be deleted and the topic
    recreated without touching the session's."""
    topic = f"events-{uuid.uuid4().hex[:8]}"
    admin = kafka.admin()
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    resource = KafkaResource(
        bootstrap_servers=kafka.bootstrap_servers,
        file_events_topic=topic,
        notifications_topic=kafka.notifications_topic,
    )
    try:
        yield resource
    finally:
        admin.delete_topics([topic])[topic].result(30)


def _tick(
    instance: dg.DagsterInstance,
    kafka: KafkaResource,
    postgres: PostgresResource,
    cursor: str | None,
) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"kafka": kafka, "postgres": postgres}
    ) as context:
        return file_events_sensor.evaluate_tick(context)


def _produce_deleted_events(kafka: KafkaResource, count: int) -> None:
    for _ in range(count):
        _produce_seed_event_to(kafka, "DELETED")


def _produce_seed_event_to(kafka: KafkaResource, event_type: str) -> None:
    file_id = str(uuid.uuid4())
    _produce_seed_event(kafka, event_type, file_id, f"uploads/x/{file_id}/f.txt")


def test_events_deleted_by_retention_are_a_recorded_gap_not_a_silent_skip(
    own_topic: KafkaResource, instance, postgres
) -> None:
    _produce_deleted_events(own_topic, 5)
    first = _tick(instance, own_topic, postgres, None)
    assert SensorCursor.parse(first.cursor).offsets == {0: 5}
    _produce_deleted_events(own_topic, 5)
    # What retention does: the partition's first offset moves past events nobody read.
    admin = own_topic.admin()
    deleted = admin.delete_records([TopicPartition(own_topic.file_events_topic, 0, 8)])
    for future in deleted.values():
        future.result(30)

    second = _tick(instance, own_topic, postgres, first.cursor)
    (request,) = second.run_requests
    assert request.tags["file_pipeline/offsets"] == "0:8-9", "goes on from the first kept offset"
    assert SensorCursor.parse(second.cursor).offsets == {0: 10}
    observation, check = second.asset_events
    assert observation.metadata["offset_gaps"].value == [{"partition": 0, "first": 5, "last": 7}]
    assert check.check_name == NO_EVENTS_SKIPPED and not check.passed
    assert check.metadata["events_skipped"].value == 3

    instance.report_runless_asset_event(observation)
    context = dg.build_asset_check_context(instance=instance)
    assert not no_events_skipped(context).passed, "the data-health check fails too"


def test_a_recreated_topic_restarts_the_cursor_with_new_run_keys(
    own_topic: KafkaResource, instance, postgres
) -> None:
    topic = own_topic.file_events_topic
    _produce_deleted_events(own_topic, 3)
    before = _tick(instance, own_topic, postgres, None)
    (old_request,) = before.run_requests
    old_id = own_topic.topic_id(topic)

    admin = own_topic.admin()
    admin.delete_topics([topic])[topic].result(30)
    wait_for(lambda: topic not in admin.list_topics(timeout=10).topics, 30, "the topic to go")
    wait_for(lambda: _created(admin, topic), 30, "the topic to be created again", interval=1.0)
    _produce_deleted_events(own_topic, 2)

    after = _tick(instance, own_topic, postgres, before.cursor)
    (new_request,) = after.run_requests
    new_id = own_topic.topic_id(topic)
    assert new_id != old_id
    assert new_request.tags["file_pipeline/offsets"] == "0:0-1", "the new events, from the start"
    assert new_request.run_key != old_request.run_key and new_id in new_request.run_key
    assert SensorCursor.parse(after.cursor) == SensorCursor(topic, new_id, {0: 2})


def _created(admin: AdminClient, topic: str) -> bool:
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
        return True
    except Exception:  # still being deleted
        time.sleep(0.5)
        return False


def test_other_event_types_are_counted_and_left_alone(
    own_topic: KafkaResource, instance, postgres
) -> None:
    for event_type in ("DOWNLOADED", "SHARED", "SHARED", "ARCHIVED"):
        _produce_seed_event_to(own_topic, event_type)
    data = _tick(instance, own_topic, postgres, None)
    assert data.run_requests == [], "nothing to process"
    (observation,) = data.asset_events
    assert observation.metadata["events_ignored"].value == 4
    assert observation.metadata["ignored_by_type"].value == {
        "ARCHIVED": 1,
        "DOWNLOADED": 1,
        "SHARED": 2,
    }
    assert observation.metadata["dead_lettered"].value == 0
    assert SensorCursor.parse(data.cursor).offsets == {0: 4}
