"""Decoding untrusted images safely: a pixel limit against decompression bombs, and every decoder
failure turned into one typed error that names the reason.

Pillow decodes JPEG, PNG, GIF, WebP, TIFF, BMP and AVIF itself; pillow-heif adds HEIC/HEIF (the
photos phones take), registered here so every decode in the package gets it. libheif applies the
container's rotation while decoding, so a HEIC photo comes out upright and its EXIF orientation
reads 1 (`original_orientation` in the image's info keeps what the camera wrote).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pillow_heif
from PIL import Image, UnidentifiedImageError

from file_pipeline.errors import ImageProcessingError

MAX_IMAGE_PIXELS = 80_000_000

pillow_heif.register_heif_opener(thumbnails=False)


def open_image(source: bytes | Path) -> Image.Image:
    """Open an image lazily (header only; pixels are decoded on first use). Call under
    `guarded_decode()`."""
    return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)


@contextmanager
def guarded_decode() -> Iterator[None]:
    """Run image decoding under the pixel limit; raises ImageProcessingError for bombs, files
    that are not images, and corrupt or truncated images."""
    previous_limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageProcessingError(f"refused: decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageProcessingError("not a decodable image") from exc
    except (OSError, SyntaxError, ValueError, EOFError, RuntimeError) as exc:
        # RuntimeError: libheif's decoding errors, as pillow-heif raises them.
        raise ImageProcessingError(f"corrupt image: {exc}") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit
