"""Thumbnail and preview renditions of an image, with Pillow.

The thumbnail fits within 250x250 with its aspect ratio kept (no crop, so nothing of the picture
is lost) as WebP; the preview's longest side is at most 1440 px, as a progressive JPEG. Neither
is ever upscaled. EXIF orientation is applied first, so a portrait photo stored sideways comes
out upright, and the renditions carry no EXIF (no GPS position leaks into a thumbnail).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from file_pipeline.keys import thumbnail_prefix
from file_pipeline.processing.images import guarded_decode

THUMBNAIL_SIZE = (250, 250)
PREVIEW_LONGEST_SIDE = 1440
THUMBNAIL_QUALITY = 80
PREVIEW_QUALITY = 85
_EXTENSIONS = {"image/webp": "webp", "image/jpeg": "jpg"}
# ICC profiles describe RGB data only when the source was RGB; any other one would be wrong.
_ICC_SAFE_MODES = ("RGB", "RGBA")


@dataclass(frozen=True)
class Rendition:
    name: str
    data: bytes
    content_type: str
    width: int
    height: int


def make_renditions(data: bytes) -> list[Rendition]:
    """[thumbnail, preview] of an image; ImageProcessingError if corrupt or a decompression bomb.

    Animated images (GIF, WebP, APNG) give their first frame.
    """
    with guarded_decode():
        image = Image.open(io.BytesIO(data))
        source_mode = image.mode
        icc_profile = image.info.get("icc_profile")
        # JPEG only: decode at 1/2, 1/4 or 1/8 scale when that still covers the preview.
        image.draft(None, (PREVIEW_LONGEST_SIDE, PREVIEW_LONGEST_SIDE))
        image = ImageOps.exif_transpose(image)
        image = _to_rgb_or_rgba(image)
        preview = image.copy()
        preview.thumbnail((PREVIEW_LONGEST_SIDE, PREVIEW_LONGEST_SIDE), Image.Resampling.LANCZOS)
        thumbnail = preview.copy()
        thumbnail.thumbnail(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
        if source_mode not in _ICC_SAFE_MODES:
            icc_profile = None
        return [
            _encode_webp("thumbnail", thumbnail, icc_profile),
            _encode_jpeg("preview", preview, icc_profile),
        ]


def rendition_key(file_id: str, rendition: Rendition) -> str:
    """`thumbnails/<file_id>/thumbnail.webp` or `thumbnails/<file_id>/preview.jpg`."""
    extension = _EXTENSIONS.get(rendition.content_type)
    if extension is None:
        raise ValueError(f"no extension for rendition content type {rendition.content_type!r}")
    return f"{thumbnail_prefix(file_id)}{rendition.name}.{extension}"


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """8-bit RGB, or RGBA when the image has transparency: the two modes both encoders take."""
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode == "F" or mode == "I" or mode.startswith("I;16"):
        image = _to_8bit_gray(image)
        mode = image.mode
    if mode in ("LA", "PA", "La", "RGBa") or image.has_transparency_data:
        return image.convert("RGBA")
    # CMYK, YCbCr, LAB, HSV, L, 1 and opaque P: Pillow's conversions to RGB.
    return image.convert("RGB")


def _to_8bit_gray(image: Image.Image) -> Image.Image:
    """16-bit (or 32-bit int/float) grayscale scaled to 8 bits, rather than clipped to white."""
    mode = image.mode
    wide = image if mode in ("I", "F") else image.convert("I")
    low, high = wide.getextrema()
    if mode != "F" and low >= 0 and high <= 255 and not mode.startswith("I;16"):
        scale, offset = 1.0, 0.0
    elif mode != "F" and low >= 0 and high <= 65535:
        scale, offset = 1 / 257, 0.0
    elif high > low:
        scale, offset = 255 / (high - low), -low * 255 / (high - low)
    else:
        scale, offset = 0.0, 0.0
    return wide.point(lambda value: value * scale + offset).convert("L")


def _on_white(image: Image.Image) -> Image.Image:
    if image.mode != "RGBA":
        return image
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    return background


def _encode_webp(name: str, image: Image.Image, icc_profile: bytes | None) -> Rendition:
    buffer = io.BytesIO()
    options = {"icc_profile": icc_profile} if icc_profile else {}
    image.save(buffer, "WEBP", quality=THUMBNAIL_QUALITY, method=4, **options)
    return Rendition(name, buffer.getvalue(), "image/webp", image.width, image.height)


def _encode_jpeg(name: str, image: Image.Image, icc_profile: bytes | None) -> Rendition:
    buffer = io.BytesIO()
    flat = _on_white(image)
    options = {"icc_profile": icc_profile} if icc_profile else {}
    flat.save(buffer, "JPEG", quality=PREVIEW_QUALITY, progressive=True, optimize=True, **options)
    return Rendition(name, buffer.getvalue(), "image/jpeg", flat.width, flat.height)
