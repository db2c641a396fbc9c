"""EXIF from image bytes with Pillow: camera, timestamps, GPS, dimensions, orientation."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from PIL import ExifTags, Image

from file_pipeline.processing.images import guarded_decode

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825


@dataclass(frozen=True)
class ExifResult:
    width: int
    height: int
    image_format: str
    camera_make: str | None = None
    camera_model: str | None = None
    taken_at: datetime | None = None
    orientation: int | None = None
    gps_latitude: float | None = None
    gps_longitude: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex() if len(value) <= 64 else f"<{len(value)} bytes>"
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, (Fraction,)) or type(value).__name__ == "IFDRational":
        try:
            return float(value)
        except (ZeroDivisionError, ValueError):
            return None
    if isinstance(value, str):
        return value.replace("\x00", "").strip()
    if isinstance(value, (int, float)) or value is None:
        return value
    return str(value)


def _dms_to_degrees(dms: Any, ref: Any) -> float | None:
    try:
        degrees, minutes, seconds = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = degrees + minutes / 60 + seconds / 3600
    if str(ref).strip().upper() in ("S", "W"):
        value = -value
    return round(value, 7)


def _parse_exif_datetime(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text.strip().replace("\x00", ""), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _clean_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = value.replace("\x00", "").strip()
    return cleaned or None


def extract_exif(data: bytes) -> ExifResult:
    """Read the EXIF of an image. Raises ImageProcessingError for corrupt or oversized images."""
    with guarded_decode():
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        image_format = image.format or "unknown"
        exif = image.getexif()

    tags: dict[str, Any] = {}
    for tag_id, value in exif.items():
        tags[ExifTags.TAGS.get(tag_id, str(tag_id))] = _jsonable(value)
    sub = exif.get_ifd(_EXIF_IFD)
    for tag_id, value in sub.items():
        tags[ExifTags.TAGS.get(tag_id, str(tag_id))] = _jsonable(value)
    gps = exif.get_ifd(_GPS_IFD)
    gps_named = {ExifTags.GPSTAGS.get(k, str(k)): v for k, v in gps.items()}
    if gps_named:
        tags["GPSInfo"] = {k: _jsonable(v) for k, v in gps_named.items()}

    orientation = exif.get(0x0112)
    return ExifResult(
        width=width,
        height=height,
        image_format=image_format,
        camera_make=_clean_text(exif.get(0x010F)),
        camera_model=_clean_text(exif.get(0x0110)),
        taken_at=_parse_exif_datetime(sub.get(0x9003) or exif.get(0x0132)),
        orientation=orientation if isinstance(orientation, int) else None,
        gps_latitude=_dms_to_degrees(gps_named.get("GPSLatitude"), gps_named.get("GPSLatitudeRef")),
        gps_longitude=_dms_to_degrees(
            gps_named.get("GPSLongitude"), gps_named.get("GPSLongitudeRef")
        ),
        tags=tags,
    )


def is_image_content_type(content_type: str | None) -> bool:
    return bool(content_type) and content_type.startswith("image/")
