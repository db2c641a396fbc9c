"""The decoders added for phones and documents, fuzzed alone: damaged HEIC and AVIF photos
(libheif, libavif) and damaged PDFs (PDFium) only ever raise the typed ImageProcessingError,
which the stage records as that file's failure (fixed seed, 1,200 inputs)."""

import io
import random
from pathlib import Path

import pytest
from PIL import Image

from file_pipeline.errors import ImageProcessingError
from file_pipeline.processing.exif import extract_exif
from file_pipeline.processing.pdf_preview import first_page_image
from file_pipeline.processing.thumbnails import make_renditions

SAMPLES = Path(__file__).resolve().parents[2] / "file_pipeline" / "samples"


def _encoded(image_format: str) -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Fuzz"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(buffer, image_format, exif=exif.tobytes())
    return buffer.getvalue()


def _damaged(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        if choice < 0.6 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif choice < 0.8 and len(out) > 2:
            del out[rng.randrange(1, len(out)) :]
        else:
            at = rng.randrange(len(out) + 1)
            out[at:at] = rng.randbytes(rng.randint(1, 16))
    return bytes(out)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about each damaged EXIF tag
@pytest.mark.parametrize("kind", ["HEIF", "AVIF", "PDF"])
def test_damaged_inputs_raise_only_the_typed_error(kind: str) -> None:
    rng = random.Random(f"fuzz-{kind}")
    seed = (SAMPLES / "quarterly-report.pdf").read_bytes() if kind == "PDF" else _encoded(kind)
    decoded = refused = 0
    for _ in range(400):
        data = _damaged(seed, rng)
        try:
            if kind == "PDF":
                first_page_image(data, 250)
            else:
                extract_exif(data)
                make_renditions(data)
            decoded += 1
        except ImageProcessingError:
            refused += 1
    assert decoded + refused == 400
    assert refused > 0, "the damage is real: some inputs are refused"
