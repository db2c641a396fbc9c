"""ThumbHash placeholders: agreement with the reference implementation, what a hash says about its
image (colour, alpha, aspect ratio), the format's size bound, and inputs of every shape and mode.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from file_pipeline.processing.placeholders import (
    MAX_HASH_BYTES,
    MAX_SIDE,
    approximate_aspect_ratio,
    average_rgba,
    decode_thumbhash,
    thumbhash_bytes,
    thumbhash_of,
)


def _gradient(w: int, h: int) -> bytes:
    """Opaque RGBA: red across, green down, blue their product."""
    return bytes(
        v
        for y in range(h)
        for x in range(w)
        for v in ((x * 8) % 256, (y * 8) % 256, (x * y) % 256, 255)
    )


def _translucent(w: int, h: int) -> bytes:
    """RGBA whose alpha rises from 0 (top-left pixel fully transparent) to opaque."""
    return bytes(
        v
        for y in range(h)
        for x in range(w)
        for v in ((x * 6 + y) % 256, max(0, 255 - y * 10), (x * x) % 256, min(255, x * 7 + y * 3))
    )


def _noise(w: int, h: int, seed: int = 12345) -> bytes:
    """Opaque RGBA from a linear congruential generator (glibc's constants, top 8 of 31 bits)."""
    out = bytearray()
    state = seed
    for _ in range(w * h):
        for _ in range(3):
            state = (state * 1103515245 + 12345) % 2**31
            out.append(state >> 23)
        out.append(255)
    return bytes(out)


@dataclass(frozen=True)
class KnownAnswer:
    pixels: Callable[[int, int], bytes]
    size: tuple[int, int]
    hash_hex: str
    base64: str
    decoded_size: tuple[int, int]
    decoded_sha256: str
    average: tuple[float, float, float, float]
    aspect_ratio: float


# Produced by the reference itself, not by the code under test: js/thumbhash.js of
# github.com/evanw/thumbhash at a652ce6 (byte-identical to npm thumbhash 0.1.1), run under node
# v20.20.2 on the RGBA bytes the generators above make: rgbaToThumbHash (hex, and base64 by
# Buffer.toString('base64')), thumbHashToRGBA (size, SHA-256 of its pixels),
# thumbHashToAverageRGBA and thumbHashToApproximateAspectRatio.
KNOWN_ANSWERS = {
    "opaque square gradient": KnownAnswer(
        _gradient,
        (32, 32),
        "9d080e1f1a60767770888886886788777887171ffb708f08",
        "nQgOHxpgdndwiIiGiGeId3iHFx/7cI8I",
        (32, 32),
        "3340fece3df017ed220bf31f189abd18be8364d7eebc86e556d829b737ba6e1d",
        (0.49470899470899465, 0.47883597883597884, 0.40740740740740744, 1.0),
        1.0,
    ),
    "translucent landscape": KnownAnswer(
        _translucent,
        (40, 24),
        "21398623903aa0966f7887c45f270a8a70777678877777",
        "ITmGI5A6oJZveIfEXycKinB3dniHd3c=",
        (32, 19),
        "50100ddc996e5994c8c1508fd25779e4b6e262f77a1733f810609cf8e09d4959",
        (0.6269841269841271, 0.5158730158730159, 0.42857142857142866, 0.6666666666666666),
        1.6666666666666667,
    ),
    "opaque portrait noise": KnownAnswer(
        _noise,
        (7, 13),
        "df17061c04da77784f995f9aa601648af0c986",
        "3xcGHATad3hPmV+apgFkivDJhg==",
        (18, 32),
        "1206eda39ea9ae19af4dee9005541ec7defa05a4421ea876b5f97038d8b65683",
        (0.5105820105820105, 0.4629629629629628, 0.5026455026455027, 1.0),
        0.5714285714285714,
    ),
}


@pytest.mark.parametrize("case", KNOWN_ANSWERS.values(), ids=list(KNOWN_ANSWERS))
def test_matches_the_reference_implementation(case: KnownAnswer) -> None:
    """Same bytes, base64, rendering, average colour and aspect ratio as the reference JS gives
    for the same pixels (images within 100x100 are hashed as they are, without resizing).
    """
    w, h = case.size
    image = Image.frombytes("RGBA", case.size, case.pixels(w, h))

    hash_ = thumbhash_bytes(image)
    assert hash_.hex() == case.hash_hex
    assert thumbhash_of(image) == case.base64

    width, height, pixels = decode_thumbhash(hash_)
    assert (width, height) == case.decoded_size
    assert len(pixels) == width * height * 4
    assert hashlib.sha256(pixels).hexdigest() == case.decoded_sha256
    assert average_rgba(hash_) == case.average
    assert approximate_aspect_ratio(hash_) == case.aspect_ratio


@pytest.mark.parametrize(
    "colour",
    [(200, 30, 30), (30, 160, 60), (20, 40, 220), (255, 255, 255), (0, 0, 0), (90, 90, 90)],
)
def test_solid_colour_decodes_to_that_colour(colour: tuple[int, int, int]) -> None:
    """Within the format's quantisation (6 bits of luminance, 6 of each chroma axis)."""
    hash_ = thumbhash_bytes(Image.new("RGB", (640, 480), colour))
    expected = [c / 255 for c in colour]

    *rgb, alpha = average_rgba(hash_)
    assert rgb == pytest.approx(expected, abs=0.03)
    assert alpha == 1.0

    _, _, pixels = decode_thumbhash(hash_)
    rendered = np.frombuffer(pixels, dtype=np.uint8).reshape(-1, 4)
    assert np.abs(rendered[:, :3] - np.array(colour)).max() <= 8
    assert (rendered[:, 3] == 255).all()


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        # lx / ly, each side's share of 7 luminance terms rounded: 400x200 gives 7 / round(3.5).
        ((400, 200), 7 / 4),
        ((200, 400), 4 / 7),
        ((300, 300), 1.0),
        ((1440, 1080), 7 / 5),
        ((1080, 1440), 5 / 7),
    ],
)
def test_approximate_aspect_ratio(size: tuple[int, int], ratio: float) -> None:
    hash_ = thumbhash_bytes(Image.new("RGB", size, (120, 80, 40)))
    assert approximate_aspect_ratio(hash_) == pytest.approx(ratio)
    assert approximate_aspect_ratio(hash_) == pytest.approx(size[0] / size[1], rel=0.15)
    width, height, _ = decode_thumbhash(hash_)
    assert max(width, height) == 32
    assert width / height == pytest.approx(ratio, rel=0.05)


def test_alpha_sets_the_alpha_flag() -> None:
    image = Image.new("RGBA", (200, 100), (10, 120, 200, 255))
    image.paste((0, 0, 0, 0), (0, 0, 100, 100))  # left half transparent
    hash_ = thumbhash_bytes(image)

    assert hash_[2] & 0x80
    assert average_rgba(hash_)[3] == pytest.approx(0.5, abs=1 / 15)
    _, _, pixels = decode_thumbhash(hash_)
    alpha = np.frombuffer(pixels, dtype=np.uint8).reshape(-1, 4)[:, 3]
    assert alpha.min() < 64 and alpha.max() > 192
    # Alpha leaves fewer luminance terms: 200x100 gives 5 / round(2.5).
    assert approximate_aspect_ratio(hash_) == pytest.approx(5 / 3)


def test_opaque_rgba_has_no_alpha_flag() -> None:
    hash_ = thumbhash_bytes(Image.new("RGBA", (50, 50), (10, 120, 200, 255)))
    assert not hash_[2] & 0x80
    assert average_rgba(hash_)[3] == 1.0


@pytest.mark.parametrize("alpha", [False, True], ids=["opaque", "alpha"])
def test_hash_length_within_the_format_bound(alpha: bool) -> None:
    """Every luminance layout (1-7 terms on the short side, either orientation) stays within
    MAX_HASH_BYTES; a square one uses all of it: 5 + ceil(37 / 2) opaque, 6 + ceil(38 / 2) alpha.
    """
    rng = np.random.default_rng(7)
    lengths = {}
    for w, h in [(20, n) for n in range(1, 21)] + [(n, 20) for n in range(1, 20)]:
        pixels = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        if not alpha:
            pixels[:, :, 3] = 255
        hash_ = thumbhash_bytes(Image.fromarray(pixels, "RGBA"))
        assert bool(hash_[2] & 0x80) == alpha
        lengths[w, h] = len(hash_)
    assert max(lengths.values()) <= MAX_HASH_BYTES
    assert lengths[20, 20] == (25 if alpha else 24)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.new("RGB", (1440, 1080), (40, 90, 200)),
        lambda: Image.new("RGBA", (60, 30), (40, 90, 200, 128)),
        lambda: Image.new("RGB", (300, 200), (250, 120, 0)).convert("P"),
        lambda: Image.new("L", (2000, 10), 77),
    ],
    ids=["large RGB", "small RGBA", "P", "L strip"],
)
def test_does_not_modify_its_argument(make: Callable[[], Image.Image]) -> None:
    image = make()
    before = (image.size, image.mode, image.tobytes(), dict(image.info))
    thumbhash_of(image)
    assert (image.size, image.mode, image.tobytes(), dict(image.info)) == before


def _i16(value: int) -> Image.Image:
    return Image.frombytes("I;16", (300, 200), np.full((200, 300), value, "<u2").tobytes())


def _transparent_palette() -> Image.Image:
    image = Image.new("P", (120, 80), 1)
    image.putpalette([0, 0, 0, 230, 30, 30] + [0] * 762)
    image.paste(0, (0, 0, 60, 80))
    image.info["transparency"] = 0
    return image


@pytest.mark.parametrize(
    ("make", "grey_or_alpha"),
    [
        (lambda: Image.new("RGB", (1, 1), (200, 10, 10)), None),
        (lambda: Image.new("RGB", (1, 1000), (10, 200, 10)), None),
        (lambda: Image.new("RGBA", (1000, 1), (10, 10, 200, 255)), None),
        (lambda: Image.new("L", (300, 200), 77), ("grey", 77 / 255)),
        (lambda: Image.new("LA", (300, 200), (77, 100)), ("alpha", 100 / 255)),
        (lambda: Image.new("RGB", (300, 200), (77, 77, 77)).convert("P"), ("grey", 77 / 255)),
        (_transparent_palette, ("alpha", 0.5)),
        (lambda: Image.new("1", (300, 200), 1), ("grey", 1.0)),
        (lambda: Image.new("PA", (30, 20), (0, 0)), None),
        (lambda: _i16(32896), ("grey", 128 / 255)),  # 16-bit scaled to 8, not clipped to white
        (lambda: Image.new("I", (30, 20), 200), ("grey", 200 / 255)),
        (lambda: Image.new("F", (30, 20), 0.5), None),
        (lambda: Image.new("LA", (30, 20), (77, 255)).convert("La"), ("grey", 77 / 255)),
        (lambda: Image.new("RGBA", (30, 20), (77, 77, 77, 255)).convert("RGBa"), None),
        (lambda: Image.new("CMYK", (300, 200), (0, 0, 0, 0)), ("grey", 1.0)),
        (lambda: Image.new("YCbCr", (30, 20), (128, 128, 128)), None),
    ],
    ids=[
        "1x1",
        "1x1000 strip",
        "1000x1 strip",
        "L",
        "LA",
        "P",
        "P with transparency",
        "1",
        "PA",
        "I;16",
        "I",
        "F",
        "La",
        "RGBa",
        "CMYK",
        "YCbCr",
    ],
)
def test_any_size_and_mode(
    make: Callable[[], Image.Image], grey_or_alpha: tuple[str, float] | None
) -> None:
    hash_ = thumbhash_bytes(make())

    assert 5 <= len(hash_) <= MAX_HASH_BYTES
    width, height, pixels = decode_thumbhash(hash_)
    assert len(pixels) == width * height * 4
    if grey_or_alpha is not None:
        what, expected = grey_or_alpha
        r, g, b, a = average_rgba(hash_)
        if what == "grey":
            assert (r + g + b) / 3 == pytest.approx(expected, abs=0.03)
        else:
            assert a == pytest.approx(expected, abs=1 / 15)


def test_strips_keep_their_extreme_aspect_ratio() -> None:
    tall = thumbhash_bytes(Image.new("RGB", (1, 1000), (10, 200, 10)))
    wide = thumbhash_bytes(Image.new("RGB", (1000, 1), (10, 200, 10)))
    assert approximate_aspect_ratio(tall) == pytest.approx(1 / 7)
    assert approximate_aspect_ratio(wide) == pytest.approx(7)


def test_large_image_is_reduced_not_refused() -> None:
    """Images past MAX_SIDE are reduced first: the reference encoder takes at most 100x100."""
    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 256, (1080, 1440, 3), dtype=np.uint8), "RGB")
    assert max(image.size) > MAX_SIDE
    assert len(thumbhash_bytes(image)) <= MAX_HASH_BYTES


def test_text_form_is_padded_standard_base64() -> None:
    """As the reference's examples make it (btoa, Buffer.toString('base64')), padding kept."""
    image = Image.new("RGBA", (64, 48), (200, 100, 50, 128))
    text = thumbhash_of(image)
    assert len(text) % 4 == 0
    assert base64.b64decode(text, validate=True) == thumbhash_bytes(image)


@pytest.mark.parametrize(
    "hash_",
    [b"", b"\x00\x00\x00\x07", bytes([0, 0, 0x80, 0x05, 0x00])],
    ids=["empty", "4 bytes", "alpha flag without alpha byte"],
)
def test_decoders_refuse_what_cannot_be_a_thumbhash(hash_: bytes) -> None:
    for decoder in (decode_thumbhash, average_rgba, approximate_aspect_ratio):
        with pytest.raises(ValueError, match="not a ThumbHash"):
            decoder(hash_)


def test_empty_image_is_refused() -> None:
    with pytest.raises(ValueError):
        thumbhash_bytes(Image.new("RGB", (0, 0)))
