"""Object keys: every prefix the bucket uses, how keys are named, and how they are read back.

- `uploads/<user>/<file-id>/<safe-filename>`: an upload's bytes. The seed's Java client writes
  `uploads/<user>/<filename>` (no file id); those keys are read back too.
- `thumbnails/<file-id>/<rendition>.<ext>`: renditions made by the `thumbnails` stage.
- `quarantine/<original key>`: an infected file, moved out of `uploads/`.

The original filename is kept verbatim in the `files` row; only the object key is sanitised, so a
name with `../`, NUL, control or bidi-override characters can never escape its prefix or confuse
a person reading a listing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

UPLOADS_PREFIX = "uploads/"
THUMBNAILS_PREFIX = "thumbnails/"
QUARANTINE_PREFIX = "quarantine/"
MAX_KEY_NAME_BYTES = 200
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


class KeyArea(str, Enum):
    UPLOADS = "uploads"
    THUMBNAILS = "thumbnails"
    QUARANTINE = "quarantine"
    OTHER = "other"


@dataclass(frozen=True)
class ParsedKey:
    """What a key says about itself: its area and, where the key carries one, the file id."""

    key: str
    area: KeyArea
    file_id: str | None = None
    original_key: str | None = None
    """For quarantine keys: the upload key the object was moved from."""


def _strip_invisible(text: str) -> str:
    # Cc: control characters (NUL, newline, ESC...); Cf: format characters (RTL override, ZWJ...).
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def safe_filename(name: str) -> str:
    """A key-safe version of an untrusted filename: one path segment, printable, <= 200 bytes.

    The extension is preserved when the name has to be shortened, so content-type hints and
    downloads keep working.
    """
    text = unicodedata.normalize("NFC", name).replace("\\", "/")
    text = _strip_invisible(text.rsplit("/", 1)[-1])
    text = _UNSAFE.sub("_", text).strip("._ ")
    if not text:
        return "file"
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        return _truncate_utf8(text, MAX_KEY_NAME_BYTES)
    stem = _truncate_utf8(stem, MAX_KEY_NAME_BYTES - len(ext.encode("utf-8")) - 1)
    return f"{stem}.{ext}"


def safe_segment(value: str) -> str:
    """A key-safe path segment for a user name (never empty, never `.` or `..`)."""
    cleaned = _UNSAFE.sub("_", _strip_invisible(unicodedata.normalize("NFC", value))).strip("._ ")
    return _truncate_utf8(cleaned, 64) or "user"


def upload_key(uploaded_by: str, file_id: str, filename: str) -> str:
    return f"{UPLOADS_PREFIX}{safe_segment(uploaded_by)}/{file_id}/{safe_filename(filename)}"


def thumbnail_prefix(file_id: str) -> str:
    return f"{THUMBNAILS_PREFIX}{file_id}/"


def rendition_key(file_id: str, rendition: str, extension: str) -> str:
    """`thumbnails/<file_id>/<rendition>.<extension>`, e.g. `.../preview.jpg`."""
    return f"{thumbnail_prefix(file_id)}{rendition}.{extension}"


def quarantine_key(key: str) -> str:
    """Where an infected object goes: its key under `quarantine/` (idempotent)."""
    return key if key.startswith(QUARANTINE_PREFIX) else f"{QUARANTINE_PREFIX}{key}"


def upload_key_of(key: str) -> str:
    """The `uploads/` key an object lives (or lived, if quarantined) under."""
    return key.removeprefix(QUARANTINE_PREFIX)


def parse_key(key: str) -> ParsedKey:
    """Read a key back. Upload keys of our own carry the file id; the seed's keys do not."""
    parts = key.split("/")
    if key.startswith(UPLOADS_PREFIX):
        file_id = parts[2] if len(parts) >= 4 else None
        return ParsedKey(key, KeyArea.UPLOADS, file_id)
    if key.startswith(THUMBNAILS_PREFIX):
        return ParsedKey(key, KeyArea.THUMBNAILS, parts[1] if len(parts) >= 3 else None)
    if key.startswith(QUARANTINE_PREFIX):
        original = upload_key_of(key)
        return ParsedKey(key, KeyArea.QUARANTINE, parse_key(original).file_id, original)
    return ParsedKey(key, KeyArea.OTHER)
