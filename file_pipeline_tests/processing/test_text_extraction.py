import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from file_pipeline.processing.text_extraction import (
    TextExtractionError,
    extract_text,
    searchable_filename,
)
from file_pipeline.processing.versions import TextLimits

SAMPLES = Path(__file__).resolve().parents[2] / "file_pipeline" / "samples"
REPORT_PDF = (SAMPLES / "quarterly-report.pdf").read_bytes()
REPORT_TEXT = "Quarterly report: uploads up 42 percent"


def _pdf(pages: int = 1, *, user_password: str | None = None, owner_password: str = "") -> bytes:
    """The sample report's page repeated `pages` times, optionally encrypted."""
    writer = PdfWriter()
    page = PdfReader(io.BytesIO(REPORT_PDF)).pages[0]
    for _ in range(pages):
        writer.add_page(page)
    if user_password is not None:
        writer.encrypt(user_password, owner_password or None, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _text(data: bytes, content_type: str, filename: str, **limits: int) -> str:
    return extract_text(data, content_type, filename, TextLimits(**limits)).text


def test_sample_pdf() -> None:
    assert REPORT_TEXT in _text(REPORT_PDF, "application/pdf", "quarterly-report.pdf")


def test_sample_notes() -> None:
    data = (SAMPLES / "notes.txt").read_bytes()
    text = _text(data, "text/plain", "notes.txt")
    assert text == data.decode("utf-8")
    assert "Ship the file pipeline demo" in text


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/markdown", b"# Title\n\nSome *markdown* text"),
        ("text/csv", b"name,city\nAda,London\n"),
        ("text/plain; charset=utf-8", "caf\u00e9 na\u00efve".encode()),
    ],
)
def test_text_types_are_their_text(content_type: str, data: bytes) -> None:
    assert _text(data, content_type, "f") == data.decode("utf-8")


def test_invalid_utf8_is_replaced_and_bom_dropped() -> None:
    assert _text(b"\xef\xbb\xbfok \xff done", "text/plain", "f.txt") == "ok \ufffd done"


def test_utf16_with_bom() -> None:
    data = "h\u00e9llo".encode("utf-16")
    assert _text(data, "text/plain", "f.txt") == "h\u00e9llo"


def test_json_is_flattened_to_keys_and_values() -> None:
    document = {
        "title": "Trip to Florence",
        "tags": ["italy", "duomo"],
        "people": [{"name": "Ada", "age": 36}, {"name": "Grace", "admin": True, "x": None}],
    }
    text = _text(json.dumps(document).encode(), "application/json", "trip.json")
    assert text.split("\n") == [
        "title",
        "Trip to Florence",
        "tags",
        "italy",
        "duomo",
        "people",
        "name",
        "Ada",
        "age",
        "36",
        "Grace",
        "admin",
        "x",
    ]


def test_deeply_nested_json_does_not_overflow() -> None:
    data = ("[" * 100_000 + '"deep"' + "]" * 100_000).encode()
    assert "deep" in _text(data, "application/json", "deep.json")


def test_invalid_json_falls_back_to_raw_text() -> None:
    assert _text(b'{"a": "unterminated', "application/json", "x.json") == ('{"a": "unterminated')


@pytest.mark.parametrize(
    "data", [b"", b"%PDF-1.7\nnot really a pdf", REPORT_PDF[: len(REPORT_PDF) // 3]]
)
def test_corrupt_pdf_raises_a_typed_error(data: bytes) -> None:
    with pytest.raises(TextExtractionError, match="corrupt PDF") as caught:
        extract_text(data, "application/pdf", "broken.pdf")
    assert caught.value.filename == "broken.pdf"
    assert "broken.pdf" in str(caught.value)


def test_password_protected_pdf_raises_a_typed_error() -> None:
    with pytest.raises(TextExtractionError, match="encrypted"):
        extract_text(_pdf(user_password="secret"), "application/pdf", "locked.pdf")


def test_pdf_encrypted_with_an_empty_user_password_is_read() -> None:
    data = _pdf(user_password="", owner_password="owner")
    assert REPORT_TEXT in _text(data, "application/pdf", "restricted.pdf")


def test_pdf_page_limit() -> None:
    text = _text(_pdf(5), "application/pdf", "long.pdf", max_pdf_pages=2)
    assert text.count(REPORT_TEXT) == 2


def test_nuls_are_stripped() -> None:
    assert _text(b"a\x00b\x00\x00c", "text/plain", "f.txt") == "abc"
    json_data = json.dumps({"k\u0000ey": "va\u0000lue"}).encode()
    assert _text(json_data, "application/json", "f.json") == "key\nvalue"


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", "\u00e9" * 1000),
        ("text/csv", "x" * 1000),
        ("application/json", json.dumps(["word"] * 1000)),
    ],
)
def test_truncation(content_type: str, data: str) -> None:
    text = _text(data.encode(), content_type, "big", max_chars=100)
    assert len(text) == 100


def test_pdf_truncation() -> None:
    text = _text(_pdf(3), "application/pdf", "r.pdf", max_chars=10)
    assert text == REPORT_TEXT[:10]


@pytest.mark.parametrize(
    "content_type",
    ["image/jpeg", "application/octet-stream", "application/zip", "text/html", ""],
)
def test_unsupported_types_give_nothing(content_type: str) -> None:
    assert _text(b"some bytes", content_type, "file.bin") == ""


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("quarterly-report_2024.pdf", "quarterly report 2024 pdf"),
        ("vacation-photo.jpg", "vacation photo jpg"),
        ("  My  Notes..v2--final.TXT ", "My Notes v2 final TXT"),
        ("README", "README"),
        ("evil\x00name\u202e.txt", "evil name txt"),
        ("", ""),
    ],
)
def test_searchable_filename(filename: str, expected: str) -> None:
    assert searchable_filename(filename) == expected


def test_text_cut_by_a_bound_says_why() -> None:
    pages = extract_text(_pdf(5), "application/pdf", "long.pdf", TextLimits(max_pdf_pages=2))
    assert pages.partial == "first 2 of 5 pages"
    chars = extract_text(b"x" * 500, "text/plain", "long.txt", TextLimits(max_chars=100))
    assert (len(chars.text), chars.partial) == (100, "text cut at 100 characters")
    whole = extract_text(b"short", "text/plain", "short.txt")
    assert (whole.text, whole.partial) == ("short", None)


def test_a_pdf_past_its_deadline_keeps_the_pages_read_so_far() -> None:
    spent = extract_text(_pdf(3), "application/pdf", "slow.pdf", deadline=0.0)
    assert spent.text == ""
    assert spent.partial == "stopped after 0 of 3 pages: time budget spent"


def test_lone_surrogates_never_reach_the_index() -> None:
    data = json.dumps({"name": "bad \ud800 surrogate"}).encode()
    text = _text(data, "application/json", "s.json")
    assert "\ud800" not in text and text.encode("utf-8")
