"""Renditions of an image with Pillow: the configured sizes and formats (by default the tutorial's
three: a 250 px WebP thumbnail, a 720 px WebP and a 1440 px JPEG preview), and a ThumbHash
placeholder of the picture for instant blurred previews.

Each rendition fits within its longest side with the aspect ratio kept (no crop, so nothing of the
picture is lost) and is never upscaled. EXIF orientation is applied first, so a portrait photo
stored sideways comes out upright, and the renditions carry no EXIF (no GPS position leaks into a
thumbnail). The image is decoded once for every rendition, at a reduced scale when the format
allows it (JPEG's draft mode).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from file_pipeline import settings
from file_pipeline.processing.images import guarded_decode, open_image
from file_pipeline.processing.placeholders import thumbhash_of
from file_pipeline.processing.products import Rendition
from file_pipeline.processing.versions import RenditionSpec, parse_renditions

DEFAULT_RENDITIONS = parse_renditions(settings.DEFAULT_RENDITIONS)
# ICC profiles describe RGB data only when the source was RGB; any other one would be wrong.
_ICC_SAFE_MODES = ("RGB", "RGBA")


@dataclass(frozen=True)
class RenderedImage:
    """Every rendition of one picture, and its ThumbHash (base64) made from the smallest."""

    renditions: list[Rendition]
    placeholder: str


def make_renditions(
    data: bytes, specs: tuple[RenditionSpec, ...] = DEFAULT_RENDITIONS
) -> list[Rendition]:
    """Every rendition of an image; ImageProcessingError if corrupt or a decompression bomb."""
    with guarded_decode():
        return renditions_of(open_image(data), specs)


def renditions_of(image: Image.Image, specs: tuple[RenditionSpec, ...]) -> list[Rendition]:
    """Renditions of an opened (not yet loaded) image, in the order of `specs`, from one decode.

    Animated images (GIF, WebP, APNG) give their first frame. Call under `guarded_decode()`.
    """
    return render(image, specs).renditions


def render(image: Image.Image, specs: tuple[RenditionSpec, ...]) -> RenderedImage:
    """`renditions_of`, plus the picture's placeholder hash. Call under `guarded_decode()`."""
    largest = max(spec.longest_side for spec in specs)
    source_mode = image.mode
    icc_profile = image.info.get("icc_profile") if source_mode in _ICC_SAFE_MODES else None
    # JPEG only: decode at 1/2, 1/4 or 1/8 scale when that still covers the largest rendition.
    image.draft(None, (largest, largest))
    image = ImageOps.exif_transpose(image)
    image = _to_rgb_or_rgba(image)
    results: dict[str, Rendition] = {}
    current = image
    for spec in sorted(specs, key=lambda s: s.longest_side, reverse=True):
        scaled = current.copy()
        scaled.thumbnail((spec.longest_side, spec.longest_side), Image.Resampling.LANCZOS)
        results[spec.name] = _encode(spec, scaled, icc_profile)
        current = scaled  # each smaller rendition is made from the next larger one
    return RenderedImage([results[spec.name] for spec in specs], thumbhash_of(current))


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


def _encode(spec: RenditionSpec, image: Image.Image, icc_profile: bytes | None) -> Rendition:
    buffer = io.BytesIO()
    options: dict[str, object] = {"icc_profile": icc_profile} if icc_profile else {}
    if spec.format == "jpeg":
        image = _on_white(image)
        options.update(progressive=True, optimize=True)
    elif spec.format == "webp":
        options.update(method=4)
    image.save(buffer, spec.format.upper(), quality=spec.quality, **options)
    return Rendition(
        spec.name, buffer.getvalue(), spec.content_type, spec.extension, image.width, image.height
    )
