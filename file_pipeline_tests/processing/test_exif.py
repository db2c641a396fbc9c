import io
from pathlib import Path

import pytest
from PIL import Image

from file_pipeline.errors import ImageProcessingError
from file_pipeline.processing.exif import extract_exif

SAMPLE = Path(__file__).resolve().parents[2] / "file_pipeline" / "samples" / "vacation-photo.jpg"


def test_sample_photo_exif() -> None:
    result = extract_exif(SAMPLE.read_bytes())
    assert (result.width, result.height, result.image_format) == (640, 480, "JPEG")
    assert result.camera_make == "Canon"
    assert result.camera_model == "Canon EOS 5D Mark IV"
    assert result.taken_at is not None and result.taken_at.isoformat() == "2023-07-14T16:32:10"
    assert result.orientation == 1
    assert result.gps_latitude == pytest.approx(43.775033, abs=1e-5)
    assert result.gps_longitude == pytest.approx(11.2529, abs=1e-5)
    assert result.tags["Make"] == "Canon"
    assert result.tags["GPSInfo"]["GPSLatitudeRef"] == "N"


def test_image_without_exif_still_has_dimensions() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (31, 17)).save(buf, "PNG")
    result = extract_exif(buf.getvalue())
    assert (result.width, result.height, result.camera_make) == (31, 17, None)


@pytest.mark.parametrize("data", [b"", b"not an image", SAMPLE.read_bytes()[:200]])
def test_corrupt_images_raise_a_typed_error(data: bytes) -> None:
    with pytest.raises(ImageProcessingError):
        extract_exif(data)


def test_decompression_bomb_is_refused() -> None:
    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, "PNG")  # 144 Mpx, a few KiB compressed
    assert len(buf.getvalue()) < 100_000
    with pytest.raises(ImageProcessingError, match="decompression bomb"):
        extract_exif(buf.getvalue())
