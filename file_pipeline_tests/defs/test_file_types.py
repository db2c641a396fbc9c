"""What people upload, through the real pipeline with the daemon: HEIC and AVIF photos, a PDF,
Word, Excel and PowerPoint files (made here with the libraries that write them), and a damaged
Word file. A `dagster-daemon` on an environment of its own runs `file_events_sensor`, which
launches the processing run, as deployed.
"""

import io
import zipfile
from pathlib import Path

import dagster as dg
import docx
import openpyxl
import pptx
import pytest
from PIL import Image
from pypdf import PdfWriter

from file_pipeline.db import files as file_rows
from file_pipeline.db import outputs
from file_pipeline.states import Stage
from file_pipeline_tests.helpers import run_upload, uploaded_ids
from file_pipeline_tests.services import daemon_environment

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


def test_every_new_file_type_is_processed_by_the_daemon(tmp_path: Path) -> None:
    makers = {
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
                    "SELECT file_id, camera_make FROM exif_metadata WHERE file_id = ANY(%s)",
                    (ids,),
                ).fetchall()
            )
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

    assert set(rows) == set(makers)
    assert {r["content_type"] for r in rows.values()} >= {"image/heic", "image/avif"}
    assert {name: r["status"] for name, r in rows.items()} == dict.fromkeys(makers, "clean")

    for photo in ("phone.heic", "camera.avif"):
        assert results[photo][Stage.EXIF_METADATA]["outcome"] == "done"
        assert results[photo][Stage.THUMBNAILS]["outcome"] == "done"
        assert "preview 600x800" in results[photo][Stage.THUMBNAILS]["detail"], "upright"
        assert renditions[rows[photo]["id"]] == 3 and rows[photo]["thumbhash"]
    assert cameras == {rows["phone.heic"]["id"]: "Apple", rows["camera.avif"]["id"]: "Sony"}

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
