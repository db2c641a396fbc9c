"""The upload half of the slice, on the real services: blob, row, outbox, event."""

import hashlib
import json
import logging
from pathlib import Path

import pytest

from file_pipeline.db import queries
from file_pipeline.events import parse_event
from file_pipeline.ingest import ingest_files
from file_pipeline.outbox import relay_outbox
from file_pipeline.resources import KafkaResource
from file_pipeline_tests.helpers import events_for, run_upload, uploaded_ids

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
        row = queries.get_file(conn, file_id)
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
        bootstrap_servers="localhost:1", file_events_topic=kafka.file_events_topic
    )
    down = relay_outbox(postgres, nowhere, log, delivery_timeout_seconds=2)
    assert down.sent == 0 and down.pending >= 1
    assert file_id not in events_for(kafka, [file_id])

    up = relay_outbox(postgres, kafka, log)
    assert up.pending == 0 and up.sent >= 1
    assert file_id in events_for(kafka, [file_id])
