"""Content type detected from a file's first bytes, never trusted from its name alone.

The name's extension is used only to pick among text types once the bytes are known to be text,
and among the Office formats once the bytes are known to be a ZIP archive whose first entries do
not name the format. Containers are told apart by their structure: the ISO base media file
format's `ftyp` brands (HEIC, HEIF, AVIF, MP4, QuickTime), the EBML doctype (WebM, Matroska),
RIFF's form type (WebP, AVI) and the part names of an Office Open XML archive.
"""

from __future__ import annotations

import codecs
from pathlib import PurePath

SNIFF_BYTES = 8192

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"BM", "image/bmp"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"MZ", "application/x-msdownload"),
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OFFICE_TYPES = frozenset({DOCX, XLSX, PPTX})

# Office Open XML: the folder of the main part, as it appears in the archive's entry names.
_OFFICE_PARTS = ((b"word/", DOCX), (b"xl/", XLSX), (b"ppt/", PPTX))
_OFFICE_BY_SUFFIX = {".docx": DOCX, ".xlsx": XLSX, ".pptx": PPTX}

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})
_MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V "}
    | {b"MSNV", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"mmp4", b"XAVC", b"f4v "}
)

_TEXT_BY_SUFFIX = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
    ".html": "text/html",
    ".htm": "text/html",
    ".xml": "application/xml",
}


def detect_content_type(head: bytes, filename: str = "") -> str:
    """The MIME type of a file whose first bytes are `head` (pass at least SNIFF_BYTES)."""
    container = _container_type(head, filename)
    if container is not None:
        return container
    for offset, magic, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if not head:
        return "application/octet-stream"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and _utf16_text(head):
        return _TEXT_BY_SUFFIX.get(PurePath(filename).suffix.lower(), "text/plain")
    if _looks_like_text(head):
        return _TEXT_BY_SUFFIX.get(PurePath(filename).suffix.lower(), "text/plain")
    return "application/octet-stream"


def _container_type(head: bytes, filename: str) -> str | None:
    if head[4:8] == b"ftyp":
        return _ftyp_type(head)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[:4] == b"PK\x03\x04":
        for part, mime in _OFFICE_PARTS:
            if _zip_entry_named(head, part):
                return mime
        return _OFFICE_BY_SUFFIX.get(PurePath(filename).suffix.lower())
    return None


def _ftyp_type(head: bytes) -> str | None:
    """The type an ISO base media file's `ftyp` box declares: its major brand, else the first
    compatible brand that names an image or video format."""
    box_size = int.from_bytes(head[:4], "big")
    end = min(max(box_size, 16), len(head), 4096)
    brands = [head[8:12]] + [head[i : i + 4] for i in range(16, end - 3, 4)]
    for brand in brands:
        if brand in _HEIC_BRANDS:
            return "image/heic"
        if brand in _AVIF_BRANDS:
            return "image/avif"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in _MP4_BRANDS:
            return "video/mp4"
    if any(brand in _HEIF_BRANDS for brand in brands):
        return "image/heif"
    return None


def _zip_entry_named(head: bytes, prefix: bytes) -> bool:
    """Whether a local file header within `head` names an entry starting with `prefix`."""
    start = 0
    while (found := head.find(b"PK\x03\x04", start)) != -1 and found + 30 <= len(head):
        name_length = int.from_bytes(head[found + 26 : found + 28], "little")
        if head[found + 30 : found + 30 + name_length].startswith(prefix):
            return True
        start = found + 4
    return False


def _utf16_text(head: bytes) -> bool:
    """Whether BOM-marked bytes decode as UTF-16 without control characters (other than
    whitespace): NUL bytes alone do not make UTF-16 text binary."""
    whole = head[: len(head) - len(head) % 2]
    try:
        text = whole.decode("utf-16")
    except UnicodeDecodeError:
        return False
    return not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text)


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed window is still text.
        return exc.start >= len(head) - 3
    return True
