"""The processing half of the slice: the sensor, evaluated against the real topic and the real
Dagster instance, requests a run; that run writes the EXIF row."""

import json
from pathlib import Path

import dagster as dg
import pytest

from file_pipeline.defs.processing.sensors import file_events_sensor, parse_cursor
from file_pipeline.resources import KafkaResource
from file_pipeline_tests.helpers import read_topic, run_upload, uploaded_ids

pytestmark = pytest.mark.stack

SAMPLES = Path(__file__).resolve().parents[2] / "file_pipeline" / "samples"


def _tick(instance: dg.DagsterInstance, kafka: KafkaResource, cursor: str | None):  # noqa: ANN202
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"kafka": kafka})
    return file_events_sensor.evaluate_tick(context)


def _drain(instance, kafka, definitions, cursor):  # noqa: ANN001, ANN202
    """Tick until no run is requested, executing each requested run; returns (cursor, results)."""
    results = []
    for _ in range(10):
        data = _tick(instance, kafka, cursor)
        cursor = data.cursor
        if not data.run_requests:
            return cursor, results
        for request in data.run_requests:
            job = definitions.resolve_job_def("process_file_events")
            results.append(
                job.execute_in_process(
                    run_config=request.run_config, instance=instance, tags=request.tags
                )
            )
    raise AssertionError("sensor kept requesting runs")


def _exif_rows(postgres, file_ids):  # noqa: ANN001, ANN202
    with postgres.connection() as conn:
        return conn.execute(
            "SELECT file_id, camera_make, camera_model, width, height, gps_latitude,"
            " processing_run_id FROM exif_metadata WHERE file_id = ANY(%s)",
            (file_ids,),
        ).fetchall()


def test_upload_then_sensor_run_writes_exif(definitions, instance, postgres, kafka) -> None:
    cursor, _ = _drain(instance, kafka, definitions, None)  # skip what earlier tests produced
    upload = run_upload(definitions, instance, [SAMPLES], uploaded_by="dora")
    assert upload.success
    ids = uploaded_ids(upload)
    assert len(ids) == 3

    data = _tick(instance, kafka, cursor)
    assert len(data.run_requests) == 1
    request = data.run_requests[0]
    batch = request.run_config["ops"]["exif_metadata"]["config"]
    assert batch["topic"] == kafka.file_events_topic
    assert sum(r["end"] - r["start"] + 1 for r in batch["ranges"]) == 3
    assert "fileMetadata" not in json.dumps(request.run_config), "offsets, not payloads"
    assert request.run_key.startswith(f"{kafka.file_events_topic}:")
    assert request.tags["file_pipeline/events"] == "3"
    new_cursor = parse_cursor(data.cursor, kafka.file_events_topic)
    assert (
        sum(new_cursor.values()) - sum(parse_cursor(cursor, kafka.file_events_topic).values()) == 3
    )

    job = definitions.resolve_job_def("process_file_events")
    run = job.execute_in_process(
        run_config=request.run_config, instance=instance, tags=request.tags
    )
    assert run.success
    rows = _exif_rows(postgres, ids)
    assert len(rows) == 1, "only the photo has EXIF"
    file_id, make, model, width, height, lat, run_id = rows[0]
    assert (make, model, width, height) == ("Canon", "Canon EOS 5D Mark IV", 640, 480)
    assert lat == pytest.approx(43.775, abs=1e-3)
    assert run_id == run.run_id
    stored_run = instance.get_run_by_id(run.run_id)
    assert stored_run is not None and stored_run.tags["file_pipeline/offsets"]

    with postgres.connection() as conn:
        outcomes = dict(
            conn.execute(
                "SELECT file_id, outcome FROM processing_results"
                " WHERE step = 'exif_metadata' AND file_id = ANY(%s)",
                (ids,),
            ).fetchall()
        )
    assert sorted(outcomes.values()) == ["done", "skipped", "skipped"]

    # The same batch again (cursor reset or re-execution): still exactly one row per file.
    again = job.execute_in_process(run_config=request.run_config, instance=instance)
    assert again.success
    assert len(_exif_rows(postgres, ids)) == 1

    assert _tick(instance, kafka, data.cursor).run_requests == []


def test_invalid_messages_go_to_the_dlq_and_the_sensor_moves_on(
    definitions, instance, postgres, kafka
) -> None:
    cursor, _ = _drain(instance, kafka, definitions, None)
    producer = kafka.producer()
    producer.produce(kafka.file_events_topic, key=b"garbage", value=b"\x00not json")
    producer.produce(kafka.file_events_topic, key=b"truncated", value=b'{"eventType": "UPLO')
    assert producer.flush(30) == 0
    upload = run_upload(definitions, instance, [SAMPLES / "vacation-photo.jpg"], uploaded_by="eve")
    (file_id,) = uploaded_ids(upload)

    cursor, runs = _drain(instance, kafka, definitions, cursor)
    assert len(runs) == 1 and runs[0].success
    assert len(_exif_rows(postgres, [file_id])) == 1

    dead = {m.key(): dict(m.headers()) for m in read_topic(kafka, kafka.dead_letter_topic)}
    assert {b"garbage", b"truncated"} <= set(dead)
    headers = dead[b"truncated"]
    assert b"not valid JSON" in headers["dlq.reason"]
    assert headers["dlq.source.topic"] == kafka.file_events_topic.encode()
    assert int(headers["dlq.source.offset"]) >= 0


def test_seed_format_event_from_a_plain_producer_is_processed(
    definitions, instance, storage, postgres, kafka
) -> None:
    """An event exactly as the seed's Java producer writes it (no eventId/schemaVersion/sha256)."""
    cursor, _ = _drain(instance, kafka, definitions, None)
    upload = run_upload(definitions, instance, [SAMPLES / "vacation-photo.jpg"], uploaded_by="java")
    (file_id,) = uploaded_ids(upload)
    cursor, _ = _drain(instance, kafka, definitions, cursor)  # our own event, processed once
    with postgres.connection() as conn:
        conn.execute("DELETE FROM exif_metadata WHERE file_id = %s", (file_id,))
        row = conn.execute(
            "SELECT s3_key, s3_url, file_size FROM files WHERE id = %s", (file_id,)
        ).fetchone()
    seed_event = {
        "eventType": "UPLOADED",
        "fileMetadata": {
            "id": file_id,
            "filename": "vacation-photo.jpg",
            "s3Key": row[0],
            "s3Url": row[1],
            "fileSize": row[2],
            "contentType": "image/jpeg",
            "uploadedBy": "java",
            "uploadedAt": 1696500000000,
        },
        "timestamp": 1696500000000,
    }
    producer = kafka.producer()
    producer.produce(kafka.file_events_topic, key=file_id.encode(), value=json.dumps(seed_event))
    assert producer.flush(30) == 0

    cursor, runs = _drain(instance, kafka, definitions, cursor)
    assert len(runs) == 1 and runs[0].success
    (exif_row,) = _exif_rows(postgres, [file_id])
    assert exif_row[1] == "Canon"
    with postgres.connection() as conn:
        source = conn.execute(
            "SELECT source_event FROM exif_metadata WHERE file_id = %s", (file_id,)
        ).fetchone()[0]
    assert source.startswith(f"{kafka.file_events_topic}/"), "dedup key from topic/partition/offset"
