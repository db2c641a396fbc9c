"""Object-key naming: `uploads/<user>/<file-id>/<safe-filename>` from untrusted names.

The original filename is kept verbatim in the `files` row; only the object key is sanitised, so a
name with `../`, NUL, control or bidi-override characters can never escape its prefix or confuse
a person reading a listing.
"""

from __future__ import annotations

import re
import unicodedata

MAX_KEY_NAME_BYTES = 200
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


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
    return f"uploads/{safe_segment(uploaded_by)}/{file_id}/{safe_filename(filename)}"


def thumbnail_prefix(file_id: str) -> str:
    return f"thumbnails/{file_id}/"


def quarantine_key(key: str) -> str:
    return f"quarantine/{key}"
