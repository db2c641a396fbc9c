import io
from pathlib import Path

import pytest
from PIL import Image

from file_pipeline.errors import ImageProcessingError
from file_pipeline.processing.images import guarded_decode, open_image
from file_pipeline.processing.placeholders import average_rgba, decode_thumbhash
from file_pipeline.processing.thumbnails import (
    DEFAULT_RENDITIONS,
    Rendition,
    make_renditions,
    render,
)
from file_pipeline.processing.versions import parse_renditions

SAMPLE = Path(__file__).resolve().parents[2] / "file_pipeline" / "samples" / "vacation-photo.jpg"


def _encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def _by_name(renditions: list[Rendition]) -> dict[str, Rendition]:
    assert [r.name for r in renditions] == ["thumbnail", "medium", "preview"]
    return {r.name: r for r in renditions}


def _decode(rendition: Rendition) -> Image.Image:
    image = Image.open(io.BytesIO(rendition.data))
    image.load()
    assert (image.width, image.height) == (rendition.width, rendition.height)
    return image


def test_large_photo_sizes_and_formats() -> None:
    data = _encode(Image.new("RGB", (4000, 3000), (200, 30, 30)), "JPEG", quality=90)
    renditions = _by_name(make_renditions(data))

    thumbnail = _decode(renditions["thumbnail"])
    assert thumbnail.format == "WEBP"
    assert renditions["thumbnail"].content_type == "image/webp"
    assert thumbnail.width == 250 and thumbnail.height == pytest.approx(188, abs=1)

    preview = _decode(renditions["preview"])
    assert preview.format == "JPEG"
    assert renditions["preview"].content_type == "image/jpeg"
    assert (preview.width, preview.height) == (1440, 1080)
    assert preview.info.get("progressive") or preview.info.get("progression")
    assert not preview.getexif()


def test_small_image_is_not_upscaled() -> None:
    renditions = _by_name(make_renditions(_encode(Image.new("RGB", (100, 80)), "PNG")))
    for rendition in renditions.values():
        assert (rendition.width, rendition.height) == (100, 80)


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = _encode(Image.new("RGB", (400, 300), (10, 120, 10)), "JPEG", exif=exif)
    renditions = _by_name(make_renditions(data))
    assert (renditions["preview"].width, renditions["preview"].height) == (300, 400)
    thumbnail = renditions["thumbnail"]
    assert thumbnail.height == 250 and thumbnail.width == pytest.approx(188, abs=1)


def test_rgba_png_goes_onto_white_for_jpeg() -> None:
    image = Image.new("RGBA", (300, 200), (0, 0, 255, 0))
    image.paste((255, 0, 0, 255), (0, 0, 150, 200))
    renditions = _by_name(make_renditions(_encode(image, "PNG")))
    thumbnail = _decode(renditions["thumbnail"])
    assert thumbnail.mode == "RGBA"  # WebP keeps the transparency
    preview = _decode(renditions["preview"]).convert("RGB")
    assert preview.getpixel((250, 100)) == pytest.approx((255, 255, 255), abs=3)
    red = preview.getpixel((50, 100))
    assert red[0] > 240 and red[1] < 15 and red[2] < 15


@pytest.mark.parametrize(
    ("image", "image_format"),
    [
        (Image.new("P", (64, 48)), "GIF"),
        (Image.new("LA", (64, 48), (128, 100)), "PNG"),
        (Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG"),
        (Image.new("L", (64, 48), 77), "JPEG"),
        (Image.new("1", (64, 48), 1), "PNG"),
        (Image.new("RGB", (64, 48), (1, 2, 3)), "WEBP"),
    ],
)
def test_modes_and_formats(image: Image.Image, image_format: str) -> None:
    renditions = _by_name(make_renditions(_encode(image, image_format)))
    for rendition in renditions.values():
        assert (rendition.width, rendition.height) == (64, 48)
        assert _decode(rendition).mode in ("RGB", "RGBA")


def test_cmyk_becomes_rgb_with_the_right_colour() -> None:
    data = _encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG", quality=95)
    preview = _decode(_by_name(make_renditions(data))["preview"])
    r, g, b = preview.getpixel((32, 24))
    assert r > 200 and g < 60 and b < 60


def test_16_bit_grayscale_is_scaled_not_clipped() -> None:
    data = _encode(Image.new("I;16", (64, 48), 32896), "PNG")  # mid-grey in 16 bits
    preview = _decode(_by_name(make_renditions(data))["preview"])
    assert preview.getpixel((32, 24)) == pytest.approx((128, 128, 128), abs=3)


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    preview = _decode(_by_name(make_renditions(buffer.getvalue()))["preview"])
    r, g, b = preview.getpixel((20, 15))
    assert r > 200 and b < 60


def test_sample_photo() -> None:
    renditions = _by_name(make_renditions(SAMPLE.read_bytes()))
    assert (renditions["preview"].width, renditions["preview"].height) == (640, 480)
    thumbnail = renditions["thumbnail"]
    assert thumbnail.width == 250 and thumbnail.height == pytest.approx(188, abs=1)
    assert not _decode(renditions["preview"]).getexif()  # no GPS position in the renditions


@pytest.mark.parametrize("data", [b"", b"not an image", SAMPLE.read_bytes()[:200]])
def test_corrupt_images_raise_a_typed_error(data: bytes) -> None:
    with pytest.raises(ImageProcessingError):
        make_renditions(data)


def test_truncated_jpeg_raises_a_typed_error() -> None:
    data = _encode(Image.effect_noise((800, 600), 64).convert("RGB"), "JPEG")
    with pytest.raises(ImageProcessingError, match="corrupt image"):
        make_renditions(data[: len(data) // 2])


def test_decompression_bomb_is_refused() -> None:
    data = _encode(Image.new("1", (12000, 12000)), "PNG")  # 144 Mpx, a few KiB compressed
    assert len(data) < 100_000
    limit_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageProcessingError, match="decompression bomb"):
        make_renditions(data)
    assert limit_before == Image.MAX_IMAGE_PIXELS  # the global limit is restored


def test_configured_renditions_are_made_from_one_decode_in_their_formats() -> None:
    specs = parse_renditions("small:250:webp:80,medium:720:webp:80,large:1440:jpeg:85")
    image = Image.new("RGB", (4000, 3000), (120, 40, 200))
    renditions = make_renditions(_encode(image, "JPEG", quality=90), specs)
    assert [(r.name, r.width, r.height, r.content_type, r.extension) for r in renditions] == [
        ("small", 250, 188, "image/webp", "webp"),
        ("medium", 720, 540, "image/webp", "webp"),
        ("large", 1440, 1080, "image/jpeg", "jpg"),
    ]
    for rendition in renditions:
        decoded = Image.open(io.BytesIO(rendition.data))
        assert decoded.size == (rendition.width, rendition.height)
        assert decoded.format == ("JPEG" if rendition.extension == "jpg" else "WEBP")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("thumbnail:250:webp", "name:longest-side:format:quality"),
        ("thumbnail:250:gif:80", "format"),
        ("a:250:webp:80,a:300:webp:80", "distinct names"),
        ("bad name:250:webp:80", "plain word"),
        ("big:0:webp:80", "side 1..16384"),
        ("", "at least one"),
    ],
)
def test_rendition_settings_are_validated(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_renditions(text)


def test_the_default_renditions_are_the_tutorials_three_sizes() -> None:
    assert [(s.name, s.longest_side, s.format) for s in DEFAULT_RENDITIONS] == [
        ("thumbnail", 250, "webp"),
        ("medium", 720, "webp"),
        ("preview", 1440, "jpeg"),
    ]
    data = _encode(Image.new("RGB", (4000, 3000), (200, 30, 30)), "JPEG", quality=90)
    sizes = {r.name: (r.width, r.height) for r in make_renditions(data)}
    assert sizes == {"thumbnail": (250, 188), "medium": (720, 540), "preview": (1440, 1080)}


def test_render_gives_a_thumbhash_placeholder_of_the_picture() -> None:
    """The placeholder decodes to the picture's colour and shape (made from the smallest
    rendition, so it costs no second decode)."""
    data = _encode(Image.new("RGB", (800, 400), (200, 30, 30)), "PNG")
    with guarded_decode():
        rendered = render(open_image(data), DEFAULT_RENDITIONS)
    assert len(rendered.renditions) == 3
    raw = _b64(rendered.placeholder)
    red, green, blue, alpha = average_rgba(raw)
    assert (red, green, blue) == pytest.approx((200 / 255, 30 / 255, 30 / 255), abs=0.05)
    assert alpha == pytest.approx(1.0)
    width, height, _ = decode_thumbhash(raw)
    assert width > height


@pytest.mark.parametrize("image_format", ["HEIF", "AVIF"])
def test_heic_and_avif_photos_are_rendered_upright(image_format: str) -> None:
    """A phone's HEIC (rotation in the container, applied by libheif) and an AVIF with an EXIF
    orientation both come out upright: 400x300 stored, shown as 300x400. (HEIF readers ignore
    an EXIF orientation the container's transforms do not back: the spec says so.)"""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Apple"
    data = _encode(Image.new("RGB", (400, 300), (10, 120, 10)), image_format, exif=exif.tobytes())
    renditions = _by_name(make_renditions(data))
    assert (renditions["preview"].width, renditions["preview"].height) == (300, 400)
    assert _decode(renditions["thumbnail"]).getpixel((10, 10)) == pytest.approx(
        (10, 120, 10), abs=12
    )


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text + "=" * (-len(text) % 4))
