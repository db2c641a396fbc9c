"""Operating the pipeline on the real services: stage status, `files list --stage --outcome`,
reprocessing exactly what is asked (stale thumbnails after a size change; failed, deleted,
infected and current files), through the CLI and the Launchpad's `reprocess_files` job."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from PIL import Image

from file_pipeline.cli import main
from file_pipeline.db import reprocess as requests
from file_pipeline.processing.video import probe
from file_pipeline.resources import ObjectStorageResource, PostgresResource
from file_pipeline_tests.helpers import Pipeline, run_delete, run_upload, uploaded_ids
from file_pipeline_tests.videos import make_video

pytestmark = pytest.mark.stack

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _image(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())


def _user() -> str:
    return f"ops-{uuid.uuid4().hex[:6]}"


def _renditions(postgres: PostgresResource, file_id: str) -> dict[str, tuple]:
    with postgres.connection() as conn:
        return {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT rendition, width, height, version FROM thumbnails WHERE file_id = %s",
                (file_id,),
            )
        }


def _first_batch_cursor(postgres: PostgresResource, request_id: int) -> str:
    with postgres.connection() as conn:
        batches = requests.request_batches(conn, request_id)
    return str(min(batch.id for batch in batches) - 1)


def _request_id(output: str) -> int:
    return int(output.split("(request ")[1].split(")")[0])


def test_a_thumbnail_size_change_makes_exactly_the_old_thumbnails_stale_and_reprocess_redoes_them(
    pipeline: Pipeline,
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    postgres: PostgresResource,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    user = _user()
    _image(tmp_path / "wide.jpg", (1000, 500), (200, 40, 40))
    _image(tmp_path / "tall.jpg", (400, 800), (40, 200, 40))
    (tmp_path / "notes.txt").write_text("no thumbnails for text")
    ids = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by=user))
    pipeline.drain()
    with postgres.connection() as conn:
        names = {
            r[0]: r[1]
            for r in conn.execute("SELECT filename, id FROM files WHERE id = ANY(%s)", (ids,))
        }
        exif_before = dict(
            conn.execute(
                "SELECT file_id, extracted_at FROM exif_metadata WHERE file_id = ANY(%s)", (ids,)
            ).fetchall()
        )
    old = _renditions(postgres, names["wide.jpg"])
    assert old["thumbnail"][:2] == (250, 125)

    monkeypatch.setenv("THUMBNAIL_RENDITIONS", "thumbnail:200:webp:80,preview:1440:jpeg:85")
    runner = CliRunner()
    stale = runner.invoke(
        main, ["files", "list", "--stage", "thumbnails", "--outcome", "stale", "--user", user]
    )
    assert stale.exit_code == 0, stale.output
    assert {names["wide.jpg"], names["tall.jpg"]} <= set(stale.output.split())
    assert names["notes.txt"] not in stale.output
    current_exif = runner.invoke(
        main, ["files", "list", "--stage", "exif_metadata", "--outcome", "stale", "--user", user]
    )
    assert current_exif.output.strip() == "no file is stale in exif_metadata"

    planned = runner.invoke(main, ["reprocess", "--stale", "--stage", "thumbnails", "--user", user])
    assert planned.exit_code == 0, planned.output
    assert "2 files to reprocess in stages thumbnails, notifications" in planned.output
    request_id = _request_id(planned.output)
    ((request, run),) = [
        (request, run)
        for request, run in pipeline.reprocess(_first_batch_cursor(postgres, request_id))
        if request.tags["file_pipeline/reprocess_request"] == str(request_id)
    ]
    assert run.success
    materialized = {e.asset_key.to_user_string() for e in run.get_asset_materialization_events()}
    assert materialized == {"thumbnails", "notifications"}, "only the stages asked for"
    assert request.run_key == f"reprocess:{request_id}:1", "never collides with the sensor's"

    new = _renditions(postgres, names["wide.jpg"])
    assert new["thumbnail"][:2] == (200, 100) and new["thumbnail"][2] != old["thumbnail"][2]
    assert _renditions(postgres, names["tall.jpg"])["thumbnail"][:2] == (100, 200)
    with postgres.connection() as conn:
        exif_after = dict(
            conn.execute(
                "SELECT file_id, extracted_at FROM exif_metadata WHERE file_id = ANY(%s)", (ids,)
            ).fetchall()
        )
        notified = conn.execute(
            "SELECT count(*) FROM notifications WHERE file_id = ANY(%s)", (ids,)
        ).fetchone()[0]
    assert exif_after == exif_before, "EXIF was current: untouched"
    assert notified == 3, "nothing changed for the owner: no second notification"
    now_stale = runner.invoke(
        main, ["files", "list", "--stage", "thumbnails", "--outcome", "stale", "--user", user]
    )
    assert now_stale.output.strip() == "no file is stale in thumbnails"


def test_reprocess_leaves_deleted_infected_and_current_files_alone_and_says_so(
    pipeline: Pipeline,
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    postgres: PostgresResource,
    tmp_path: Path,
) -> None:
    user = _user()
    folder = tmp_path / "files"
    folder.mkdir()
    _image(folder / "fine.jpg", (300, 200), (10, 10, 200))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x13" * 2000)
    (folder / "virus.txt").write_bytes(EICAR)
    (folder / "gone.txt").write_text("deleted before the reprocess")
    ids = uploaded_ids(run_upload(definitions, instance, [folder], uploaded_by=user))
    pipeline.drain()
    with postgres.connection() as conn:
        names = {
            r[0]: r[1]
            for r in conn.execute("SELECT filename, id FROM files WHERE id = ANY(%s)", (ids,))
        }
    assert run_delete(names["gone.txt"], definitions, instance).success
    pipeline.drain()

    failed = CliRunner().invoke(
        main, ["files", "list", "--stage", "thumbnails", "--outcome", "failed", "--user", user]
    )
    assert names["broken.jpg"] in failed.output and "ImageProcessingError" in failed.output

    result = definitions.resolve_job_def("reprocess_files").execute_in_process(
        run_config={
            "ops": {
                "plan_reprocessing": {
                    "config": {
                        "selection": "IDS",
                        "file_ids": list(names.values()) + ["no-such-id"],
                        "stages": ["thumbnails"],
                    }
                }
            }
        },
        instance=instance,
    )
    assert result.success
    (output,) = [e for e in result.all_events if e.is_successful_output]
    metadata = {k: v.value for k, v in output.event_specific_data.metadata.items()}
    assert metadata["files"] == 1, "only the file whose thumbnails failed"
    assert metadata["left_alone"] == {
        "already current": 1,
        "deleted": 1,
        "infected": 1,
        "no such file": 1,
    }
    request_id = int(metadata["request_id"])
    with postgres.connection() as conn:
        (batch,) = requests.request_batches(conn, request_id)
    assert batch.file_ids == [names["broken.jpg"]]
    runs = pipeline.reprocess(_first_batch_cursor(postgres, request_id))
    assert runs and all(run.success for _, run in runs), "the broken file fails again, alone"


def test_status_counts_every_stage_and_says_what_failed(
    pipeline: Pipeline,
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    tmp_path: Path,
) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    run_upload(definitions, instance, [tmp_path], uploaded_by=_user())
    pipeline.drain()
    runner = CliRunner()
    as_json = runner.invoke(main, ["status", "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert set(report["stages"]) == {
        "virus_scan",
        "exif_metadata",
        "thumbnails",
        "search_index",
        "notifications",
    }
    for counts in report["stages"].values():
        assert set(counts) == {"done", "partial", "stale", "failed", "skipped", "missing"}
    assert report["stages"]["thumbnails"]["failed"] >= 1
    assert any(
        f["stage"] == "thumbnails" and f["error_type"].endswith("ImageProcessingError")
        for f in report["top_failures"]
    )
    assert report["outbox"]["unsent"] == 0
    assert report["versions"]["virus_scan"].endswith("-db1"), "the signature database version"
    text = runner.invoke(main, ["status"])
    assert text.exit_code == 0 and "top failure reasons" in text.output
    assert "ImageProcessingError" in text.output


def test_turning_on_the_web_rendition_makes_videos_thumbnails_stale_and_reprocess_makes_it(
    pipeline: Pipeline,
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    postgres: PostgresResource,
    storage: ObjectStorageResource,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    user = _user()
    make_video(tmp_path / "talk.mp4", size=(640, 360))
    (video,) = uploaded_ids(run_upload(definitions, instance, [tmp_path], uploaded_by=user))
    pipeline.drain()
    before = _renditions(postgres, video)
    assert set(before) == {"thumbnail", "medium", "preview", "poster_10", "poster_50", "poster_90"}

    monkeypatch.setenv("VIDEO_WEB_RENDITION_HEIGHT", "240")
    runner = CliRunner()
    planned = runner.invoke(main, ["reprocess", "--stale", "--stage", "thumbnails", "--user", user])
    assert planned.exit_code == 0, planned.output
    assert "1 files to reprocess in stages thumbnails" in planned.output
    request_id = _request_id(planned.output)
    runs = [
        run
        for request, run in pipeline.reprocess(_first_batch_cursor(postgres, request_id))
        if request.tags["file_pipeline/reprocess_request"] == str(request_id)
    ]
    assert [run.success for run in runs] == [True]

    after = _renditions(postgres, video)
    assert set(after) == {*before, "web_240p"}
    assert after["web_240p"][:2] == (426, 240)
    assert len({row[2] for row in after.values()}) == 1 and "-video-" in after["web_240p"][2]
    web = tmp_path / "web.mp4"
    web.write_bytes(storage.get_bytes(f"thumbnails/{video}/web_240p.mp4"))
    info = probe(web, "video/mp4", timeout=30)
    assert (info.codec, info.height, info.audio_codec) == ("h264", 240, "aac")
