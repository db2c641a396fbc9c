"""The upload half of the slice, on the real services: blob, row, outbox, event."""

import hashlib
import json
import logging
import time
from pathlib import Path

import dagster as dg
import pytest
import requests

from file_pipeline import stack
from file_pipeline.db import files as file_rows
from file_pipeline.defs.upload.sensors import MIN_AGE_SECONDS, outbox_relay_sensor
from file_pipeline.events.schema import parse_event
from file_pipeline.resources import KafkaResource
from file_pipeline.upload.ingest import ingest_files
from file_pipeline.upload.outbox import relay_outbox
from file_pipeline_tests.helpers import events_for, read_topic, run_delete, run_upload, uploaded_ids

pytestmark = pytest.mark.stack

SAMPLES = Path(__file__).resolve().parents[2] / "file_pipeline" / "samples"


def test_uploaded_file_is_stored_recorded_and_announced(
    definitions, instance, storage, postgres, kafka, tmp_path
) -> None:
    photo = SAMPLES / "vacation-photo.jpg"
    result = run_upload(definitions, instance, [photo], uploaded_by="alice", description="Rome")
    assert result.success
    (file_id,) = uploaded_ids(result)

    with postgres.connection() as conn:
        row = file_rows.get_file(conn, file_id)
        outbox = conn.execute(
            "SELECT sent_at, kafka_partition, kafka_offset FROM outbox WHERE file_id = %s",
            (file_id,),
        ).fetchone()
    data = photo.read_bytes()
    assert row["filename"] == "vacation-photo.jpg"
    assert row["s3_key"] == f"uploads/alice/{file_id}/vacation-photo.jpg"
    assert row["s3_url"] == f"http://localhost:9000/{storage.bucket}/{row['s3_key']}"
    assert row["file_size"] == len(data)
    assert row["content_type"] == "image/jpeg"
    assert row["uploaded_by"] == "alice" and row["description"] == "Rome"
    assert row["uploaded_at"] > 1_700_000_000_000 and row["created_at"] is not None
    assert row["sha256"] == hashlib.sha256(data).hexdigest()
    assert row["upload_run_id"] == result.run_id
    assert storage.get_bytes(row["s3_key"]) == data
    assert outbox[0] is not None, "the relay marks the event sent once Kafka acknowledged it"

    event = events_for(kafka, [file_id])[file_id]
    assert event["eventType"] == "UPLOADED" and event["schemaVersion"] == 1
    assert event["fileMetadata"]["sha256"] == row["sha256"]
    assert event["fileMetadata"]["s3Key"] == row["s3_key"]
    assert event["fileMetadata"]["fileSize"] == row["file_size"]
    assert event["fileMetadata"]["uploadedAt"] == row["uploaded_at"]
    parsed = parse_event(json.dumps(event))
    assert parsed.event_id == event["eventId"] and parsed.file.id == file_id


def test_nothing_to_upload_fails_the_run_with_the_reason(definitions, instance, tmp_path) -> None:
    result = run_upload(definitions, instance, [tmp_path / "missing.txt"])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert failure.cause.cls_name == "InvalidUploadError"
    assert "missing.txt: path does not exist" in failure.cause.message


def test_events_wait_in_the_outbox_while_kafka_is_unreachable(
    storage, postgres, kafka, tmp_path
) -> None:
    """Kafka unreachable: the upload still commits, the event waits, and a later relay sends it."""
    (tmp_path / "later.txt").write_text("sent later")
    log = logging.getLogger(__name__)
    stored = ingest_files(
        storage,
        postgres,
        [tmp_path / "later.txt"],
        uploaded_by="carol",
        description=None,
        topic=kafka.file_events_topic,
        run_id=None,
        log=log,
    ).stored
    file_id = stored[0].id
    nowhere = KafkaResource(
        bootstrap_servers="localhost:1",
        file_events_topic=kafka.file_events_topic,
        delivery_timeout_seconds=2,
    )
    down = relay_outbox(postgres, nowhere, log)
    assert down.sent == 0 and down.pending >= 1 and down.failed >= 1
    assert any("timed out" in error.lower() or "acknowledge" in error for error in down.errors)
    assert file_id not in events_for(kafka, [file_id])

    up = relay_outbox(postgres, kafka, log)
    assert up.pending == 0 and up.sent >= 1
    assert file_id in events_for(kafka, [file_id])


def test_two_hundred_files_in_one_run(definitions, instance, storage, postgres, kafka, tmp_path):
    for i in range(200):
        (tmp_path / f"file-{i:03d}.txt").write_text(f"file number {i}")
    result = run_upload(definitions, instance, [tmp_path], uploaded_by="bulk")
    assert result.success
    ids = uploaded_ids(result)
    assert len(ids) == len(set(ids)) == 200
    with postgres.connection() as conn:
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT upload_run_id) FROM files WHERE uploaded_by = 'bulk'"
        ).fetchone()
        unsent = conn.execute(
            "SELECT count(*) FROM outbox WHERE file_id = ANY(%s) AND sent_at IS NULL", (ids,)
        ).fetchone()[0]
    assert rows == (200, 1)
    assert unsent == 0
    assert len(storage.list_keys("uploads/bulk/")) == 200
    events = events_for(kafka, ids)
    assert len(events) == 200
    assert len({e["eventId"] for e in events.values()}) == 200


def test_kafka_stopped_during_upload_loses_no_event(
    definitions, instance, postgres, kafka, tmp_path
) -> None:
    for i in range(5):
        (tmp_path / f"offline-{i}.txt").write_text(f"written while Kafka is down {i}")
    stack.down(["kafka"], echo=lambda line: None)
    try:
        result = run_upload(definitions, instance, [tmp_path], uploaded_by="offline")
        assert result.success, "the upload does not need Kafka"
        (relay,) = result.asset_materializations_for_node("file_events")
        assert relay.metadata["events_pending"].value >= 5
        assert relay.metadata["events_published"].value == 0
    finally:
        stack.up(["kafka"], echo=lambda line: None)
    ids = uploaded_ids(result)
    assert events_for(kafka, ids) == {}

    time.sleep(MIN_AGE_SECONDS)
    context = dg.build_sensor_context(instance=instance, resources={"postgres": postgres})
    tick = outbox_relay_sensor.evaluate_tick(context)
    (request,) = tick.run_requests
    relay_run = definitions.resolve_job_def("relay_file_events").execute_in_process(
        instance=instance, tags=request.tags
    )
    assert relay_run.success
    events = events_for(kafka, ids)
    assert sorted(events) == sorted(ids), "every event arrived without re-running the upload"
    assert outbox_relay_sensor.evaluate_tick(context).run_requests == []


def test_delete_removes_blob_marks_row_and_emits_deleted(
    definitions, instance, storage, postgres, kafka, tmp_path
) -> None:
    (tmp_path / "doomed.txt").write_text("delete me")
    (file_id,) = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by="del"))
    with postgres.connection() as conn:
        key = file_rows.get_file(conn, file_id)["s3_key"]
    storage.put_bytes(f"thumbnails/{file_id}/thumbnail.webp", b"derived", "image/webp")

    for attempt in range(2):  # the second delete is harmless
        result = run_delete(file_id, definitions, instance)
        assert result.success
        (mat,) = result.asset_materializations_for_node("deleted_files")
        assert mat.metadata["deleted"].value == (1 if attempt == 0 else 0)
        assert mat.metadata["already_deleted"].value == (0 if attempt == 0 else 1)

    assert not storage.exists(key)
    assert storage.list_keys(f"thumbnails/{file_id}/") == []
    with postgres.connection() as conn:
        row = file_rows.get_file(conn, file_id)
        deleted_events = conn.execute(
            "SELECT count(*) FROM outbox WHERE file_id = %s AND event_type = 'DELETED'", (file_id,)
        ).fetchone()[0]
    assert row["status"] == "deleted" and row["deleted_at"] is not None
    assert deleted_events == 1
    types = [
        json.loads(m.value())["eventType"]
        for m in read_topic(kafka, kafka.file_events_topic)
        if m.key() == file_id.encode()
    ]
    assert types == ["UPLOADED", "DELETED"]

    missing = run_delete("no-such-file", definitions, instance)
    (mat,) = missing.asset_materializations_for_node("deleted_files")
    assert mat.metadata["missing"].value == 1


def test_presigned_url_downloads_exact_bytes_then_expires(storage, tmp_path) -> None:
    data = bytes(range(256)) * 100
    storage.put_bytes("tests/presigned.bin", data, "application/octet-stream")
    url = storage.presigned_url("tests/presigned.bin", expires_seconds=2)
    assert requests.get(url, timeout=10).content == data
    time.sleep(3)
    expired = requests.get(url, timeout=10)
    assert expired.status_code == 403 and b"expired" in expired.content.lower()
    anonymous = requests.get(storage.object_url("tests/presigned.bin"), timeout=10)
    assert anonymous.status_code == 403, "the bucket is not public"
