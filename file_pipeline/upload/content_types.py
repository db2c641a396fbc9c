"""Content type detected from a file's first bytes, never trusted from its name alone.

The name's extension is used only to pick among text types once the bytes are known to be text.
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
