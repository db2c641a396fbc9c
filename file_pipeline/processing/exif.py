"""EXIF with Pillow: camera, timestamps, GPS, dimensions, orientation, and every tag as JSON.

Every value comes from an untrusted file, so it goes through `normalize` before it can reach the
database: columns get a value in their range or None, and the tags become JSON that PostgreSQL's
jsonb always accepts (no NaN, NUL, lone surrogates, absurd nesting or sizes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PIL import ExifTags, Image

from file_pipeline.processing import normalize
from file_pipeline.processing.images import guarded_decode, open_image
from file_pipeline.processing.products import ExifResult

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_ORIENTATION = 0x0112
_MAKE = 0x010F
_MODEL = 0x0110
_DATETIME = 0x0132
_DATETIME_ORIGINAL = 0x9003
MAX_TEXT_COLUMN = 256


def extract_exif(data: bytes) -> ExifResult:
    """Read the EXIF of an image. Raises ImageProcessingError for corrupt or oversized images."""
    with guarded_decode():
        return exif_of(open_image(data))


def exif_of(image: Image.Image) -> ExifResult:
    """The EXIF of an opened image (reads the header and metadata, never the pixels)."""
    width, height = image.size
    exif = image.getexif()
    raw: dict[str, Any] = {}
    for tag_id, value in exif.items():
        raw[ExifTags.TAGS.get(tag_id, str(tag_id))] = value
    sub = exif.get_ifd(_EXIF_IFD)
    for tag_id, value in sub.items():
        raw[ExifTags.TAGS.get(tag_id, str(tag_id))] = value
    gps = {ExifTags.GPSTAGS.get(k, str(k)): v for k, v in exif.get_ifd(_GPS_IFD).items()}
    if gps:
        raw["GPSInfo"] = gps
    tags = normalize.storable_json(raw)
    return ExifResult(
        width=normalize.int_in_range(width, 0, normalize.INTEGER_MAX) or 0,
        height=normalize.int_in_range(height, 0, normalize.INTEGER_MAX) or 0,
        image_format=normalize.storable_text(image.format or "unknown", max_chars=32),
        camera_make=_text(exif.get(_MAKE)),
        camera_model=_text(exif.get(_MODEL)),
        taken_at=_exif_datetime(sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)),
        orientation=normalize.int_in_range(
            image.info.get("original_orientation") or exif.get(_ORIENTATION), 1, 8
        ),
        gps_latitude=_degrees(gps.get("GPSLatitude"), gps.get("GPSLatitudeRef"), 90.0),
        gps_longitude=_degrees(gps.get("GPSLongitude"), gps.get("GPSLongitudeRef"), 180.0),
        tags=tags if isinstance(tags, dict) else {},
    )


def _degrees(dms: Any, ref: Any, limit: float) -> float | None:
    """Degrees from EXIF's (degrees, minutes, seconds) rationals; None unless finite and within
    ±limit."""
    try:
        degrees, minutes, seconds = (normalize.finite_float(x) for x in dms)
    except (TypeError, ValueError):
        return None
    if degrees is None or minutes is None or seconds is None:
        return None
    value = degrees + minutes / 60 + seconds / 3600
    if isinstance(ref, bytes):
        ref = ref.decode("latin-1", errors="replace")
    if str(ref).strip().upper() in ("S", "W"):
        value = -value
    result = normalize.finite_float(round(value, 7), -limit, limit)
    return result


def _exif_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.strptime(normalize.storable_text(value).strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    return normalize.storable_datetime(parsed)


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = normalize.storable_text(value, max_chars=MAX_TEXT_COLUMN).strip()
    return cleaned or None
