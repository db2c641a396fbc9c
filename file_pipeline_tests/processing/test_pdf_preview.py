"""A PDF's first page rendered for the thumbnails stage: bounded size, pages' rotation honoured,
and every unreadable PDF a typed error naming the reason."""

import io
from pathlib import Path

import pytest
from pypdf import PdfWriter

from file_pipeline.errors import ImageProcessingError
from file_pipeline.processing.pdf_preview import MAX_RENDER_SIDE, first_page_image

SAMPLE = Path(__file__).resolve().parents[2] / "file_pipeline" / "samples" / "quarterly-report.pdf"


def _pdf(width: float, height: float, *, rotate: int = 0, password: str | None = None) -> bytes:
    writer = PdfWriter()
    page = writer.add_blank_page(width, height)
    if rotate:
        page.rotate(rotate)
    if password is not None:
        writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_first_page_is_rendered_with_its_longest_side_as_asked() -> None:
    image = first_page_image(SAMPLE, 720)
    assert image.mode == "RGB" and max(image.size) == 720
    assert image.height > image.width, "a portrait page stays portrait"
    colours = image.getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 1, "the sample's text is drawn, not a blank page"


def test_a_rotated_page_is_rendered_as_it_is_shown() -> None:
    assert first_page_image(_pdf(612, 792, rotate=90), 1440).size == (1440, 1113)


def test_a_huge_or_sliver_page_stays_within_bounds() -> None:
    assert first_page_image(_pdf(14400, 14400), 100_000).size == (MAX_RENDER_SIDE,) * 2
    width, height = first_page_image(_pdf(14400, 1), 1440).size
    assert width == 1440 and height >= 1


def test_an_encrypted_pdf_says_it_needs_a_password() -> None:
    with pytest.raises(ImageProcessingError, match="encrypted PDF"):
        first_page_image(_pdf(612, 792, password="secret"), 250)


@pytest.mark.parametrize("data", [b"", b"%PDF-1.7\n garbage", _pdf(612, 792)[:300]])
def test_a_corrupt_pdf_is_a_typed_error(data: bytes) -> None:
    with pytest.raises(ImageProcessingError, match="corrupt PDF"):
        first_page_image(data, 250)
