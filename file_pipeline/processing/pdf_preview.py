"""A PDF's first page as an image, rendered with PDFium (pypdfium2), for the `thumbnails` stage:
the document store's preview, made into the same renditions as a photo.

The page is rendered once, at the scale that makes its longest side the largest rendition's, so
its pixel count is bounded by the configuration and not by the page size the file declares. The
document comes from an upload and may be hostile: PDFium is a hardened browser component, and
whatever it raises is turned into an `ImageProcessingError` naming the reason.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from file_pipeline.errors import ImageProcessingError

MAX_RENDER_SIDE = 4096
"""The largest side in pixels a page is rendered at, whatever the renditions ask for."""


def first_page_image(
    source: Path | bytes, longest_side: int, *, password: str | None = None
) -> Image.Image:
    """Page 1 rendered in RGB with its longest side `longest_side` pixels (at most
    MAX_RENDER_SIDE). Raises ImageProcessingError for an encrypted, corrupt or empty PDF."""
    import pypdfium2 as pdfium

    side = max(1, min(longest_side, MAX_RENDER_SIDE))
    try:
        document = pdfium.PdfDocument(source, password=password)
    except pdfium.PdfiumError as exc:
        reason = str(exc)
        if "password" in reason.lower():
            raise ImageProcessingError("encrypted PDF: a password is needed to render it") from exc
        raise ImageProcessingError(f"corrupt PDF: {reason}") from exc
    try:
        if len(document) == 0:
            raise ImageProcessingError("corrupt PDF: no pages")
        page = document[0]
        try:
            width, height = page.get_size()
            if not (width > 0 and height > 0):
                raise ImageProcessingError(f"corrupt PDF: page 1 measures {width}x{height}")
            scale = side / max(width, height)
            bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255))
            try:
                image = bitmap.to_pil().convert("RGB")
            finally:
                bitmap.close()
        finally:
            page.close()
    except pdfium.PdfiumError as exc:
        raise ImageProcessingError(f"corrupt PDF: page 1 cannot be rendered: {exc}") from exc
    finally:
        document.close()
    return image
