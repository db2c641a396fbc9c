import io
import zipfile

import pytest

from file_pipeline.upload.content_types import DOCX, PPTX, XLSX, detect_content_type


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 16


def _zip(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"<xml/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "photo.jpg", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "photo.jpg", "image/png"),
        (b"%PDF-1.4\n", "notes.txt", "application/pdf"),
        (b"MZ\x90\x00" + b"\x00" * 20, "holiday.jpg", "application/x-msdownload"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "a.webp", "image/webp"),
        (b"# Title\n\nText", "README.md", "text/markdown"),
        (b"a,b\n1,2\n", "data.csv", "text/csv"),
        (b'{"a": 1}', "x.json", "application/json"),
        (b"plain words", "x.jpg", "text/plain"),
        (b"", "empty.jpg", "application/octet-stream"),
        (b"\x00\x01\x02binary", "x.txt", "application/octet-stream"),
        (_ftyp(b"heic", b"mif1", b"heic"), "IMG_0001.jpg", "image/heic"),
        (_ftyp(b"mif1", b"heic", b"miaf"), "photo", "image/heic"),
        (_ftyp(b"mif1", b"miaf"), "photo", "image/heif"),
        (_ftyp(b"avif", b"mif1", b"miaf"), "photo.jpg", "image/avif"),
        (_ftyp(b"isom", b"iso2", b"avc1", b"mp41"), "clip.mov", "video/mp4"),
        (_ftyp(b"qt  ", b"qt  "), "clip.mp4", "video/quicktime"),
        (_ftyp(b"zzzz", b"yyyy"), "clip.mp4", "application/octet-stream"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x84webm", "x.mkv", "video/webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "x", "video/x-matroska"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "x.mp4", "video/x-msvideo"),
        (_zip("[Content_Types].xml", "_rels/.rels", "word/document.xml"), "a.zip", DOCX),
        (_zip("[Content_Types].xml", "xl/workbook.xml"), "a.bin", XLSX),
        (_zip("[Content_Types].xml", "ppt/presentation.xml"), "a", PPTX),
        (_zip("photos/a.jpg"), "a.docx", DOCX),
        (_zip("photos/a.jpg"), "archive.zip", "application/zip"),
    ],
)
def test_type_comes_from_bytes_not_the_name(head: bytes, name: str, expected: str) -> None:
    assert detect_content_type(head, name) == expected


def test_text_cut_inside_a_multibyte_character_is_still_text() -> None:
    head = ("é" * 10).encode("utf-8")[:-1]
    assert detect_content_type(head, "x.txt") == "text/plain"


def test_utf16_text_with_a_byte_order_mark_is_text() -> None:
    """Its NUL bytes do not make it binary: it is indexed like any other text."""
    assert detect_content_type("héllo wörld\n".encode("utf-16"), "notes.txt") == "text/plain"
    big_endian = b"\xfe\xff" + "a,b\n1,2\n".encode("utf-16-be")
    assert detect_content_type(big_endian, "t.csv") == "text/csv"
    assert detect_content_type(b"\xff\xfe\x01\x00\x02\x00", "x.txt") == "application/octet-stream"
