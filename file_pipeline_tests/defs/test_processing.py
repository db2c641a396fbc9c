"""The processing half, on the real services: the sensor, evaluated against the real topic and the
real Dagster instance, requests runs; the runs scan, extract, render, index and notify."""

import io
import json
import logging
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from file_pipeline import settings, stack
from file_pipeline.db import files as file_rows
from file_pipeline.events.cursor import SensorCursor
from file_pipeline.processing import derived
from file_pipeline.processing.versions import parse_renditions
from file_pipeline.processing.workers import default_workers
from file_pipeline.upload.ingest import ingest_files
from file_pipeline.upload.outbox import relay_outbox
from file_pipeline_tests.helpers import (
    read_topic,
    run_delete,
    run_upload,
    uploaded_ids,
)

pytestmark = pytest.mark.stack

SAMPLES = Path(__file__).resolve().parents[2] / "file_pipeline" / "samples"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _results(postgres, file_id: str) -> dict[str, tuple[str, str]]:
    with postgres.connection() as conn:
        rows = conn.execute(
            "SELECT stage, outcome, detail FROM processing_results WHERE file_id = %s", (file_id,)
        ).fetchall()
    return {step: (outcome, detail) for step, outcome, detail in rows}


def _count(postgres, sql: str, *params) -> int:
    with postgres.connection() as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_uploaded_samples_are_scanned_extracted_rendered_indexed_and_notified(
    pipeline, definitions, instance, storage, postgres, kafka
) -> None:
    upload = run_upload(definitions, instance, [SAMPLES], uploaded_by="dora")
    assert upload.success
    ids = uploaded_ids(upload)
    with postgres.connection() as conn:
        names = {row["filename"]: fid for fid, row in file_rows.get_files(conn, ids).items()}

    data = pipeline.tick()
    (request,) = data.run_requests
    batch = request.run_config["ops"]["virus_scan"]["config"]
    assert batch["topic"] == kafka.file_events_topic
    assert sum(r["end"] - r["start"] + 1 for r in batch["ranges"]) == 7
    assert "fileMetadata" not in json.dumps(request.run_config), "offsets, not payloads"
    topic_id = kafka.topic_id(kafka.file_events_topic)
    assert request.run_key.startswith(f"{kafka.file_events_topic}@{topic_id}:")
    assert request.tags["file_pipeline/events"] == "7"
    assert request.tags["file_pipeline/upload_runs"] == upload.run_id
    assert sum(SensorCursor.parse(data.cursor).offsets.values()) >= 7
    (lag,) = data.asset_events
    assert lag.asset_key == dg.AssetKey("file_events") and lag.metadata["consumer_lag"].value == 0

    run = pipeline.execute(request)
    assert run.success
    photo, heic, video, docx, pdf, notes, eicar = (
        names["vacation-photo.jpg"],
        names["iphone-photo.heic"],
        names["phone-video.mov"],
        names["expense-report.docx"],
        names["quarterly-report.pdf"],
        names["notes.txt"],
        names["eicar-test-file.txt"],
    )
    clean = (photo, heic, video, docx, pdf, notes)
    with postgres.connection() as conn:
        rows = file_rows.get_files(conn, ids)
        exif = conn.execute(
            "SELECT camera_make, camera_model, width, height, gps_latitude, processing_run_id"
            " FROM exif_metadata WHERE file_id = ANY(%s) ORDER BY camera_make, camera_model",
            (ids,),
        ).fetchall()
        thumbs = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT rendition, s3_key, width, height FROM thumbnails WHERE file_id = %s",
                (photo,),
            )
        }
    assert {rows[i]["status"] for i in clean} == {"clean"}
    assert rows[eicar]["status"] == "infected"
    assert exif == [
        ("Apple", "iPhone 15", 480, 270, pytest.approx(41.3851, abs=1e-3), run.run_id),
        ("Apple", "iPhone 15 Pro", 640, 480, pytest.approx(43.775, abs=1e-3), run.run_id),
        ("Canon", "Canon EOS 5D Mark IV", 640, 480, pytest.approx(43.775, abs=1e-3), run.run_id),
    ]
    assert thumbs["thumbnail"][1:] == (250, 188)
    assert thumbs["medium"][1:] == thumbs["preview"][1:] == (640, 480), "never upscaled"
    assert rows[photo]["thumbhash"] and rows[heic]["thumbhash"] and rows[pdf]["thumbhash"]
    assert rows[video]["thumbhash"]
    assert rows[notes]["thumbhash"] is None
    assert rows[docx]["sensitive_data"] == {"email": 1, "payment_card": 1}
    assert rows[notes]["sensitive_data"] == {} and rows[photo]["sensitive_data"] is None
    thumb = Image.open(io.BytesIO(storage.get_bytes(thumbs["thumbnail"][0])))
    assert thumb.format == "WEBP" and thumb.size == (250, 188)
    assert thumbs["thumbnail"][0] == f"thumbnails/{photo}/thumbnail.webp"
    preview = Image.open(io.BytesIO(storage.get_bytes(thumbs["preview"][0])))
    assert preview.format == "JPEG"

    with postgres.connection() as conn:
        assert [h["file_id"] for h in file_rows.search(conn, "quarterly uploads", "dora", 5)] == [
            pdf
        ]
        assert [h["file_id"] for h in file_rows.search(conn, "meeting notes", "dora", 5)] == [notes]
        assert [h["file_id"] for h in file_rows.search(conn, "vacation", "dora", 5)] == [photo]
        assert [h["file_id"] for h in file_rows.search(conn, "Trastevere", "dora", 5)] == [docx]
        assert [h["id"] for h in file_rows.list_files(conn, "dora", 10, sensitive="any")] == [docx]
        assert file_rows.search(conn, "quarterly", "someone-else", 5) == []
    notified = {
        json.loads(m.value())["fileId"]: json.loads(m.value())
        for m in read_topic(kafka, kafka.notifications_topic)
    }
    assert {notified[i]["kind"] for i in clean} == {"processed"}
    assert notified[docx]["message"] == (
        "Your file expense-report.docx is ready! It appears to contain 1 e-mail address and "
        "1 payment card number."
    )
    assert notified[docx]["sensitiveData"] == {"email": 1, "payment_card": 1}
    assert "4111" not in json.dumps(notified[docx]), "counts, never the values"
    assert notified[eicar]["kind"] == "infected"
    assert _count(postgres, "SELECT count(*) FROM notifications WHERE file_id = ANY(%s)", ids) == 7
    materialized = {
        key.to_user_string()
        for key in (e.asset_key for e in run.get_asset_materialization_events())
    }
    assert materialized == {
        "virus_scan",
        "exif_metadata",
        "thumbnails",
        "search_index",
        "notifications",
    }
    (scan,) = run.asset_materializations_for_node("virus_scan")
    assert scan.metadata["files_infected"].value == 1
    assert scan.metadata["files_processed"].value == 7

    # The same batch again (re-execution, or a cursor reset): exactly one output per file.
    assert pipeline.execute(request).success
    assert _count(postgres, "SELECT count(*) FROM exif_metadata WHERE file_id = ANY(%s)", ids) == 3
    assert _count(postgres, "SELECT count(*) FROM thumbnails WHERE file_id = ANY(%s)", ids) == 15
    assert _count(postgres, "SELECT count(*) FROM search_index WHERE file_id = ANY(%s)", ids) == 6
    assert _count(postgres, "SELECT count(*) FROM notifications WHERE file_id = ANY(%s)", ids) == 7
    assert len(storage.list_keys(f"thumbnails/{photo}/")) == 3
    on_topic = [
        m
        for m in read_topic(kafka, kafka.notifications_topic)
        if json.loads(m.value())["fileId"] in ids
    ]
    assert len(on_topic) == 7, "a redelivered batch publishes no second notification"

    assert pipeline.tick().run_requests == []


def test_eicar_is_quarantined_with_no_thumbnail_and_no_index_entry(
    pipeline, definitions, instance, storage, postgres, tmp_path
) -> None:
    infected = tmp_path / "holiday.jpg"  # spoofed name; the bytes are EICAR
    infected.write_bytes(EICAR)
    (file_id,) = uploaded_ids(run_upload(definitions, instance, [infected], uploaded_by="mallory"))
    original = f"uploads/mallory/{file_id}/holiday.jpg"
    assert storage.exists(original)
    (run,) = pipeline.drain()
    assert run.success
    with postgres.connection() as conn:
        row = file_rows.get_file(conn, file_id)
    assert row["status"] == "infected" and "EICAR" in row["scan_signature"]
    assert row["s3_key"] == f"quarantine/{original}"
    assert storage.exists(row["s3_key"]) and not storage.exists(original)
    assert storage.list_keys(f"thumbnails/{file_id}/") == []
    assert _count(postgres, "SELECT count(*) FROM thumbnails WHERE file_id = %s", file_id) == 0
    assert _count(postgres, "SELECT count(*) FROM search_index WHERE file_id = %s", file_id) == 0
    results = _results(postgres, file_id)
    assert results["thumbnails"][0] == "skipped" and results["search_index"][0] == "skipped"
    assert results["notifications"][1].startswith("infected")


def test_clamav_unavailable_keeps_files_pending_and_a_retry_finishes_the_job(
    pipeline, definitions, instance, postgres, tmp_path
) -> None:
    (tmp_path / "scan-me-later.txt").write_text("clamd is down right now")
    (file_id,) = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by="later"))
    (request,) = pipeline.tick().run_requests
    stack.down(["clamav"], echo=lambda line: None)
    try:
        failed = pipeline.execute(request)
    finally:
        stack.up(["clamav"], echo=lambda line: None)
    assert not failed.success, "no verdict fails the run so Dagster retries it"
    with postgres.connection() as conn:
        assert file_rows.get_file(conn, file_id)["status"] == "pending", "fail closed, never clean"
    assert _count(postgres, "SELECT count(*) FROM search_index WHERE file_id = %s", file_id) == 0

    retried = pipeline.execute(request)  # what Dagster's run retry does: same config
    assert retried.success
    with postgres.connection() as conn:
        assert file_rows.get_file(conn, file_id)["status"] == "clean"
    assert _count(postgres, "SELECT count(*) FROM search_index WHERE file_id = %s", file_id) == 1


def test_bad_messages_go_to_the_dlq_and_good_ones_around_them_are_processed(
    pipeline, definitions, instance, postgres, kafka, tmp_path
) -> None:
    (tmp_path / "before.txt").write_text("before the garbage")
    (before,) = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by="dlq"))
    missing = {
        "eventType": "UPLOADED",
        "timestamp": 1,
        "fileMetadata": {
            "id": "no-such-file",
            "filename": "ghost.txt",
            "s3Key": "uploads/x/ghost.txt",
            "fileSize": 1,
            "uploadedBy": "x",
        },
    }
    bad = {
        b"garbage": b"\x00\xffnot json",
        b"truncated": b'{"eventType": "UPLOADED", "fileMeta',
        b"missing-file": json.dumps(missing).encode(),
    }
    other_type = json.dumps(dict(missing, eventType="EXPLODED")).encode()
    producer = kafka.producer()
    for key, value in [*bad.items(), (b"other-type", other_type)]:
        producer.produce(kafka.file_events_topic, key=key, value=value, partition=0)
    assert producer.flush(30) == 0
    (tmp_path / "before.txt").unlink()
    (tmp_path / "after.txt").write_text("after the garbage")
    (after,) = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by="dlq"))

    runs = pipeline.drain()
    assert runs and all(r.success for r in runs)
    for file_id in (before, after):
        assert _results(postgres, file_id)["notifications"][0] == "done"
    dead = {m.key(): dict(m.headers()) for m in read_topic(kafka, kafka.dead_letter_topic)}
    assert set(bad) <= set(dead)
    assert b"not UTF-8" in dead[b"garbage"]["dlq.reason"]
    assert b"not valid JSON" in dead[b"truncated"]["dlq.reason"]
    assert b"unknown file" in dead[b"missing-file"]["dlq.reason"]
    assert b"other-type" not in dead, "a type this consumer does not act on is left alone"
    for headers in (dead[k] for k in bad):
        assert headers["dlq.source.topic"] == kafka.file_events_topic.encode()
        assert headers["dlq.source.partition"] == b"0"
        assert int(headers["dlq.source.offset"]) >= 0
    dead_values = {m.key(): m.value() for m in read_topic(kafka, kafka.dead_letter_topic)}
    assert dead_values[b"garbage"] == bad[b"garbage"], "the original bytes, untouched"


def test_seed_format_event_from_a_plain_producer_is_processed(
    pipeline, definitions, instance, postgres, kafka
) -> None:
    """An event exactly as the seed's Java producer writes it (no eventId/schemaVersion/sha256)."""
    upload = run_upload(definitions, instance, [SAMPLES / "vacation-photo.jpg"], uploaded_by="java")
    (file_id,) = uploaded_ids(upload)
    pipeline.drain()  # our own event, processed once
    with postgres.connection() as conn:
        conn.execute("DELETE FROM exif_metadata WHERE file_id = %s", (file_id,))
        row = file_rows.get_file(conn, file_id)
    seed_event = {
        "eventType": "UPLOADED",
        "fileMetadata": {
            "id": file_id,
            "filename": "vacation-photo.jpg",
            "s3Key": row["s3_key"],
            "s3Url": row["s3_url"],
            "fileSize": row["file_size"],
            "contentType": "image/jpeg",
            "uploadedBy": "java",
            "uploadedAt": 1696500000000,
        },
        "timestamp": 1696500000000,
    }
    producer = kafka.producer()
    producer.produce(kafka.file_events_topic, key=file_id.encode(), value=json.dumps(seed_event))
    assert producer.flush(30) == 0

    (run,) = pipeline.drain()
    assert run.success
    with postgres.connection() as conn:
        make, source = conn.execute(
            "SELECT camera_make, source_event FROM exif_metadata WHERE file_id = %s", (file_id,)
        ).fetchone()
    assert make == "Canon"
    assert source.startswith(f"{kafka.file_events_topic}/"), "dedup key from topic/partition/offset"


def test_corrupt_image_fails_that_file_not_the_batch(
    pipeline, definitions, instance, postgres, tmp_path
) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x13" * 2000)
    (tmp_path / "fine.png").write_bytes(_png(300, 200))
    ids = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by="corrupt"))
    (run,) = pipeline.drain()
    assert run.success
    with postgres.connection() as conn:
        rows = file_rows.get_files(conn, ids)
    by_name = {rows[i]["filename"]: i for i in ids}
    broken = _results(postgres, by_name["broken.jpg"])
    assert broken["thumbnails"][0] == "failed" and "image" in broken["thumbnails"][1]
    assert broken["exif_metadata"][0] == "failed"
    assert broken["notifications"][1].startswith("failed")
    fine = _results(postgres, by_name["fine.png"])
    assert fine["thumbnails"] == ("done", "thumbnail 250x167, medium 300x200, preview 300x200")


def test_clean_files_are_decoded_while_the_rest_of_the_batch_is_scanned(
    pipeline, definitions, instance, postgres, tmp_path
) -> None:
    """Each newly uploaded file the scan finds clean goes to the decoding workers at once; the
    derived step takes those results instead of decoding again, and the outputs are the same."""
    for i in range(4):
        (tmp_path / f"photo-{i}.png").write_bytes(_png(300 + i, 200))
    (tmp_path / "notes.txt").write_text("no decoding ahead for a filename-only index entry")
    ids = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by="ahead"))
    (run,) = pipeline.drain()
    assert run.success
    (thumbnails,) = [
        m for m in run.get_asset_materialization_events() if m.asset_key.path == ["thumbnails"]
    ]
    metadata = thumbnails.materialization.metadata
    assert metadata["files_decoded_during_scan"].value == 5, "4 photos and the text's index"
    for file_id in ids:
        results = _results(postgres, file_id)
        assert {results[s][0] for s in ("exif_metadata", "thumbnails", "search_index")} <= {
            "done",
            "skipped",
        }, results
    with postgres.connection() as conn:
        made = conn.execute(
            "SELECT count(*) FROM thumbnails WHERE file_id::text = ANY(%s)", (ids,)
        ).fetchone()[0]
    assert made == 4 * len(parse_renditions(settings.THUMBNAIL_RENDITIONS.value()))


def test_decoded_files_are_committed_while_a_slow_one_still_decodes(
    pipeline, definitions, instance, postgres, tmp_path, monkeypatch
) -> None:
    """The derived step records and commits decoded files in groups as they come: the small
    photos' outputs are visible to other connections while a big one is still being decoded,
    not all at once after the batch's last file."""
    if default_workers() < 2:
        pytest.skip("needs two decoding workers: one for the slow file, one for the rest")
    monkeypatch.setattr(derived, "RECORD_EVERY", 4)
    for i in range(12):
        (tmp_path / f"small-{i:02d}.png").write_bytes(_png(300 + i, 200))
    Image.new("RGB", (7000, 7000), (200, 10, 10)).save(tmp_path / "big.png")  # about 1 s
    ids = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by="groups"))
    with postgres.connection() as conn:
        rows = file_rows.get_files(conn, ids)
    big = next(i for i in ids if rows[i]["filename"] == "big.png")
    small = [i for i in ids if i != big]
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with postgres.connection() as conn:
                made = dict(
                    conn.execute(
                        "SELECT file_id::text = %s, count(DISTINCT file_id) FROM thumbnails"
                        " WHERE file_id::text = ANY(%s) GROUP BY 1",
                        (big, ids),
                    ).fetchall()
                )
            seen.append((made.get(False, 0), made.get(True, 0)))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        (run,) = pipeline.drain()
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert run.success
    assert any(smalls >= 4 and bigs == 0 for smalls, bigs in seen), seen[-20:]
    assert seen and seen[-1] == (len(small), 1), "in the end every file has its renditions"
    for file_id in ids:
        assert _results(postgres, file_id)["thumbnails"][0] == "done"


def test_exif_orientation_is_applied_to_the_renditions(
    pipeline, definitions, instance, postgres, tmp_path
) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    Image.new("RGB", (400, 200), (200, 30, 30)).save(buf, "JPEG", exif=exif)
    (tmp_path / "sideways.jpg").write_bytes(buf.getvalue())
    (file_id,) = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by="rot"))
    pipeline.drain()
    with postgres.connection() as conn:
        sizes = dict(
            (r[0], (r[1], r[2]))
            for r in conn.execute(
                "SELECT rendition, width, height FROM thumbnails WHERE file_id = %s", (file_id,)
            )
        )
        orientation = conn.execute(
            "SELECT orientation FROM exif_metadata WHERE file_id = %s", (file_id,)
        ).fetchone()[0]
    assert orientation == 6
    assert sizes["preview"] == (200, 400)
    assert sizes["thumbnail"] == (125, 250)


def test_deleted_event_removes_thumbnails_and_the_index_entry(
    pipeline, definitions, instance, storage, postgres, kafka
) -> None:
    upload = run_upload(definitions, instance, [SAMPLES / "vacation-photo.jpg"], uploaded_by="gone")
    (file_id,) = uploaded_ids(upload)
    pipeline.drain()
    assert len(storage.list_keys(f"thumbnails/{file_id}/")) == 3
    assert _count(postgres, "SELECT count(*) FROM search_index WHERE file_id = %s", file_id) == 1

    # A DELETED event from any producer (here: the seed's format) removes the derived outputs.
    with postgres.connection() as conn:
        row = file_rows.get_file(conn, file_id)
    deleted = {
        "eventType": "DELETED",
        "timestamp": 1696500000001,
        "fileMetadata": {
            "id": file_id,
            "filename": row["filename"],
            "s3Key": row["s3_key"],
            "fileSize": row["file_size"],
            "uploadedBy": "gone",
        },
    }
    producer = kafka.producer()
    producer.produce(kafka.file_events_topic, key=file_id.encode(), value=json.dumps(deleted))
    assert producer.flush(30) == 0
    (run,) = pipeline.drain()
    assert run.success
    assert storage.list_keys(f"thumbnails/{file_id}/") == []
    assert _count(postgres, "SELECT count(*) FROM thumbnails WHERE file_id = %s", file_id) == 0
    assert _count(postgres, "SELECT count(*) FROM search_index WHERE file_id = %s", file_id) == 0
    assert _count(postgres, "SELECT count(*) FROM exif_metadata WHERE file_id = %s", file_id) == 0

    # And through the delete_files job: the file is gone from search results for good.
    assert run_delete(file_id, definitions, instance).success
    pipeline.drain()
    with postgres.connection() as conn:
        assert file_rows.search(conn, "vacation", "gone", 5) == []
        kinds = [
            r[0]
            for r in conn.execute(
                "SELECT kind FROM notifications WHERE file_id = %s ORDER BY id", (file_id,)
            )
        ]
    assert kinds[0] == "processed" and kinds[-1] == "deleted"


def test_a_burst_of_500_events_is_a_handful_of_runs(
    pipeline, definitions, instance, postgres, tmp_path
) -> None:
    for i in range(500):
        (tmp_path / f"burst-{i:03d}.txt").write_text(f"burst file {i}")
    upload = run_upload(definitions, instance, [tmp_path], uploaded_by="burst")
    ids = uploaded_ids(upload)
    assert len(ids) == 500
    runs = pipeline.drain()
    assert 1 <= len(runs) <= 10 and all(r.success for r in runs)
    assert (
        _count(
            postgres,
            "SELECT count(*) FROM processing_results WHERE stage = 'notifications'"
            " AND outcome = 'done' AND file_id = ANY(%s)",
            ids,
        )
        == 500
    )


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 10)).save(buf, "PNG")
    return buf.getvalue()


def _stored_unsent(storage, postgres, kafka, path: Path, user: str) -> str:
    """A file ingested with its event still in the outbox (published by `relay_outbox`)."""
    result = ingest_files(
        storage,
        postgres,
        [path],
        uploaded_by=user,
        description=None,
        topic=kafka.file_events_topic,
        run_id=None,
        log=logging.getLogger("test"),
    )
    return result.stored[0].id


def test_an_idle_tick_waits_for_the_first_event_and_requests_its_run_at_once(
    pipeline, storage, postgres, kafka, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("FILE_EVENTS_WAIT_SECONDS", "6")
    path = tmp_path / "waited-for.txt"
    path.write_text("an upload that lands while the sensor waits")
    file_id = _stored_unsent(storage, postgres, kafka, path, "waiter")
    publisher = threading.Timer(
        1.0, lambda: relay_outbox(postgres, kafka, logging.getLogger("test"))
    )
    started = time.monotonic()
    publisher.start()
    try:
        data = pipeline.tick()
    finally:
        publisher.join()
    elapsed = time.monotonic() - started
    # It waited for the event (published after 1 s) and did not sit out the rest of the 6 s.
    assert 1.0 <= elapsed < 4.0, elapsed
    (request,) = data.run_requests
    (run,) = [pipeline.execute(request)]
    assert run.success
    assert _results(postgres, file_id)["notifications"][0] == "done"


def test_a_tick_does_not_wait_while_a_processing_run_waits_to_start(
    pipeline, instance, kafka, monkeypatch
) -> None:
    monkeypatch.setenv("FILE_EVENTS_WAIT_SECONDS", "1.5")
    started = time.monotonic()
    assert not pipeline.tick().run_requests
    assert time.monotonic() - started >= 1.5  # nothing new: it waited the whole time

    waiting = dg.DagsterRun(
        job_name="process_file_events",
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTING,
        tags={"file_pipeline/topic": kafka.file_events_topic},
    )
    instance.run_storage.add_run(waiting)
    try:
        started = time.monotonic()
        assert not pipeline.tick().run_requests
        assert time.monotonic() - started < 1.0  # a new run would only queue: no wait
    finally:
        instance.delete_run(waiting.run_id)
