"""What people upload, through the real pipeline with the daemon: HEIC and AVIF photos, videos
(a phone's QuickTime with its location, a portrait MP4, WebM, AVI, Matroska), a PDF, Word, Excel
and PowerPoint files (made here with ffmpeg's test sources and the libraries that write them),
and a damaged Word file and video. A `dagster-daemon` on an environment of its own runs
`file_events_sensor`, which launches the processing run, as deployed.
"""

import io
import zipfile
from pathlib import Path

import dagster as dg
import docx
import openpyxl
import pillow_heif
import pptx
import pytest
from PIL import Image
from pypdf import PdfWriter

from file_pipeline.db import files as file_rows
from file_pipeline.db import outputs
from file_pipeline.states import Stage
from file_pipeline_tests.helpers import run_upload, uploaded_ids
from file_pipeline_tests.services import daemon_environment
from file_pipeline_tests.videos import make_video

pillow_heif.register_heif_opener()  # the HEIC sample is written here, in the test's process

pytestmark = pytest.mark.stack


def _photo(path: Path, image_format: str, make: str) -> None:
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0112] = 6
    Image.new("RGB", (800, 600), (30, 90, 200)).save(path, image_format, exif=exif.tobytes())


def _word(path: Path) -> None:
    document = docx.Document()
    document.add_heading("Employee record", 1)
    document.add_paragraph("Social security number 536-22-1234, e-mail jane.doe@example.org.")
    document.save(path)


def _excel(path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Payments"
    sheet.append(["Supplier", "IBAN", "Amount"])
    sheet.append(["Acme Widgets", "DE89 3704 0044 0532 0130 00", 1250.5])
    workbook.save(path)


def _slides(path: Path) -> None:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly pitch"
    slide.placeholders[1].text = "Call our desk: +44 20 7946 0958"
    deck.save(path)


def _pdf(path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    with path.open("wb") as out:
        writer.write(out)


def _damaged_word(path: Path) -> None:
    """A ZIP named .docx whose document part is not XML: detected as DOCX, unreadable as one."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\x00\x01 not xml")
    path.write_bytes(buffer.getvalue())


def _broken_video(path: Path) -> None:
    """An MP4 cut after its first kilobytes: detected as MP4, unreadable as a video."""
    whole = make_video(path.with_name("whole.mp4"))
    path.write_bytes(whole.read_bytes()[:2048])
    whole.unlink()


PHONE_VIDEO_TAGS = {
    "creation_time": "2026-05-01T10:20:30Z",
    "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/",
    "com.apple.quicktime.make": "Apple",
}


def test_every_new_file_type_is_processed_by_the_daemon(tmp_path: Path) -> None:
    makers = {
        "phone.mov": lambda p: make_video(p, metadata=PHONE_VIDEO_TAGS),
        "portrait.mp4": lambda p: make_video(p, size=(320, 240), rotate=90),
        "screen.webm": lambda p: make_video(p, audio=False),
        "old.avi": make_video,
        "film.mkv": make_video,
        "broken.mp4": _broken_video,
        "phone.heic": lambda p: _photo(p, "HEIF", "Apple"),
        "camera.avif": lambda p: _photo(p, "AVIF", "Sony"),
        "record.docx": _word,
        "payments.xlsx": _excel,
        "pitch.pptx": _slides,
        "scan.pdf": _pdf,
        "damaged.docx": _damaged_word,
    }
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    for name, make in makers.items():
        make(uploads / name)
    with daemon_environment("types", tmp_path / "daemon") as env:
        upload = run_upload(env.definitions, env.instance, [uploads], uploaded_by="types")
        assert upload.success
        ids = uploaded_ids(upload)
        env.wait_until_processed(ids, timeout=180)
        runs = env.finished_processing_runs(120)
        assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}, (
            "one damaged file does not fail the run"
        )
        assert all(run.tags.get("dagster/sensor_name") == "file_events_sensor" for run in runs)
        with env.resources.postgres.connection() as conn:
            rows = {r["filename"]: r for r in file_rows.get_files(conn, ids).values()}
            by_id = {r["id"]: name for name, r in rows.items()}
            results = {
                name: {Stage(r["stage"]): r for r in outputs.file_results(conn, row["id"])}
                for name, row in rows.items()
            }
            renditions = dict(
                conn.execute(
                    "SELECT file_id, count(*) FROM thumbnails WHERE file_id = ANY(%s) GROUP BY 1",
                    (ids,),
                ).fetchall()
            )
            cameras = dict(
                conn.execute(
                    "SELECT file_id, camera_make FROM exif_metadata WHERE file_id = ANY(%s)"
                    " AND camera_make IS NOT NULL",
                    (ids,),
                ).fetchall()
            )
            video_rows = {
                by_id[r[0]]: r[1:]
                for r in conn.execute(
                    "SELECT file_id, width, height, orientation, gps_latitude, taken_at,"
                    " exif->'video'->>'video_codec' FROM exif_metadata"
                    " WHERE file_id = ANY(%s) AND exif ? 'video'",
                    (ids,),
                ).fetchall()
            }
            sizes = {
                (by_id[r[0]], r[1]): (r[2], r[3])
                for r in conn.execute(
                    "SELECT file_id, rendition, width, height FROM thumbnails"
                    " WHERE file_id = ANY(%s)",
                    (ids,),
                ).fetchall()
            }
            found = {
                query: [by_id[h["file_id"]] for h in file_rows.search(conn, query, "types", 5)]
                for query in ("employee record", "Acme widgets", "quarterly pitch")
            }
            with_iban = [
                by_id[r["id"]] for r in file_rows.list_files(conn, "types", 20, False, "iban")
            ]
        pdf_preview = env.resources.storage.get_bytes(
            f"thumbnails/{rows['scan.pdf']['id']}/preview.jpg"
        )
        poster = env.resources.storage.get_bytes(
            f"thumbnails/{rows['portrait.mp4']['id']}/poster_90.webp"
        )

    assert set(rows) == set(makers)
    assert {r["content_type"] for r in rows.values()} >= {"image/heic", "image/avif"}
    assert {name: r["status"] for name, r in rows.items()} == dict.fromkeys(makers, "clean")

    for photo in ("phone.heic", "camera.avif"):
        assert results[photo][Stage.EXIF_METADATA]["outcome"] == "done"
        assert results[photo][Stage.THUMBNAILS]["outcome"] == "done"
        assert "preview 600x800" in results[photo][Stage.THUMBNAILS]["detail"], "upright"
        assert renditions[rows[photo]["id"]] == 3 and rows[photo]["thumbhash"]
    assert cameras == {
        rows["phone.heic"]["id"]: "Apple",
        rows["camera.avif"]["id"]: "Sony",
        rows["phone.mov"]["id"]: "Apple",
    }

    assert {rows[n]["content_type"] for n in ("phone.mov", "portrait.mp4", "screen.webm")} == {
        "video/quicktime",
        "video/mp4",
        "video/webm",
    }
    for video in ("phone.mov", "portrait.mp4", "screen.webm", "old.avi", "film.mkv"):
        assert results[video][Stage.EXIF_METADATA]["outcome"] == "done"
        assert results[video][Stage.THUMBNAILS]["detail"] == ("3 poster frames at 10 %, 50 %, 90 %")
        assert renditions[rows[video]["id"]] == 6 and rows[video]["thumbhash"]
    phone = video_rows["phone.mov"]
    assert phone[:2] == (320, 240) and phone[3] == 48.8584 and phone[5] == "h264"
    assert str(phone[4]) == "2026-05-01 10:20:30"
    assert video_rows["portrait.mp4"][2] == 8, "rotation as EXIF orientation"
    assert sizes["portrait.mp4", "preview"] == (240, 320), "poster frames upright"
    assert sizes["portrait.mp4", "poster_10"] == (187, 250)
    assert Image.open(io.BytesIO(poster)).size == (187, 250)
    assert video_rows["screen.webm"][5] == "vp8"
    assert (rows["old.avi"]["content_type"], video_rows["old.avi"][5]) == (
        "video/x-msvideo",
        "mpeg4",
    )
    assert (rows["film.mkv"]["content_type"], video_rows["film.mkv"][5]) == (
        "video/x-matroska",
        "h264",
    )
    broken = results["broken.mp4"]
    for stage in (Stage.EXIF_METADATA, Stage.THUMBNAILS):
        assert broken[stage]["outcome"] == "failed"
        assert broken[stage]["error_type"].endswith(".VideoProcessingError")
    assert rows["broken.mp4"]["status"] == "clean"

    pdf = results["scan.pdf"]
    assert pdf[Stage.EXIF_METADATA]["outcome"] == "skipped"
    assert pdf[Stage.THUMBNAILS]["outcome"] == "done"
    assert pdf[Stage.THUMBNAILS]["detail"].startswith("first page: thumbnail 19")
    assert renditions[rows["scan.pdf"]["id"]] == 3 and rows["scan.pdf"]["thumbhash"]
    assert Image.open(io.BytesIO(pdf_preview)).size == (1113, 1440)

    assert found == {
        "employee record": ["record.docx"],
        "Acme widgets": ["payments.xlsx"],
        "quarterly pitch": ["pitch.pptx"],
    }
    assert rows["record.docx"]["sensitive_data"] == {"email": 1, "national_id": 1}
    assert rows["payments.xlsx"]["sensitive_data"] == {"iban": 1}
    assert rows["pitch.pptx"]["sensitive_data"] == {"phone": 1}
    assert with_iban == ["payments.xlsx"]
    for name in ("record.docx", "payments.xlsx", "pitch.pptx"):
        detail = results[name][Stage.SEARCH_INDEX]["detail"]
        assert "sensitive data:" in detail
        assert not any(v in detail for v in ("536-22", "DE89", "7946", "jane.doe")), detail

    damaged = results["damaged.docx"]
    assert damaged[Stage.SEARCH_INDEX]["outcome"] == "failed"
    assert damaged[Stage.SEARCH_INDEX]["error_type"].endswith(".TextExtractionError")
    assert damaged[Stage.NOTIFICATIONS]["detail"].startswith("failed: Processing of damaged.docx")
    assert rows["damaged.docx"]["sensitive_data"] is None
