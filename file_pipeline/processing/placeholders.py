"""ThumbHash placeholders: a ~25-byte summary of an image, stored on the file's row, that a client
renders at once as a blurred preview (with the right colours and aspect ratio) while the real
thumbnail loads.

The encoder and decoder are a Python port of Evan Wallace's reference JavaScript implementation
(https://github.com/evanw/thumbhash, js/thumbhash.js, MIT licence; published on npm as
thumbhash 0.1.1): `rgbaToThumbHash`, `thumbHashToRGBA`, `thumbHashToAverageRGBA` and
`thumbHashToApproximateAspectRatio`. The port is faithful down to the floating-point operations:
sums are taken in the reference's order (numpy's `cumsum` adds sequentially, unlike `sum`),
products keep its association and rounding is JavaScript's `Math.round`, so for the same RGBA
pixels it gives the reference's bytes (the tests pin hashes produced by the reference itself).
One exception: an AC term that is mathematically zero (a solid colour, a gradient along one
axis only) quantises from 7.5 +/- a rounding error, so its four bits come out 7 or 8 depending on
the last bit of `cos`, where Python's (the C library's) and node 20's `Math.cos` differ for ~3%
of the arguments used; the reference run on engines whose `Math.cos` differ varies the same way.
The PyPI ports were not used: `thumbhash` 0.1.2 (2023) fails on any image with transparency,
`thumbhash-python` 1.0.1 (2023) pins pillow<11; both round halves to even and are pure-Python
loops (~30 ms per 100x100 image).

The text form (`thumbhash_of`) is standard base64 with `=` padding, as the reference's examples
make it (`btoa` in the browser, `Buffer.toString('base64')` in node), so a client decodes it with
`atob` or `Buffer.from(text, 'base64')` and passes the bytes to `thumbHashToDataURL`.

Pure module: Pillow and numpy (imported on first use) only, no Dagster.
"""

from __future__ import annotations

import base64
import functools
import math
import os
from types import ModuleType
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MAX_HASH_BYTES",
    "MAX_SIDE",
    "approximate_aspect_ratio",
    "average_rgba",
    "decode_thumbhash",
    "thumbhash_bytes",
    "thumbhash_of",
]

# The reference encoder refuses larger inputs: more pixels add cost and no detail.
MAX_SIDE = 100
# The format's longest hash: 6 header bytes and 38 four-bit AC terms (L 5x5, P 3x3, Q 3x3,
# A 5x5) for a square image with alpha; an opaque one has at most 5 + ceil(37 / 2) = 24.
MAX_HASH_BYTES = 25
# The reference decoder renders at most 32 px on the longest side.
_DECODED_SIDE = 32

# Resized as they are (cheap, and Pillow premultiplies alpha while resizing LA/RGBA). Any other
# mode is converted to RGBA first: Pillow resizes "1" and "P" with nearest-neighbour only.
_RESIZE_FIRST_MODES = frozenset({"RGB", "RGBA", "L", "LA", "I", "F"})


def _numpy() -> ModuleType:
    """numpy, imported on first use with one BLAS thread: nothing here multiplies matrices, and
    each BLAS thread reserves address space that a decoding worker's memory budget (an address
    space limit) would otherwise lose."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numpy

    return numpy


def thumbhash_of(image: Image.Image) -> str:
    """ThumbHash of `image` as standard base64 with padding (at most 36 characters).

    The image is reduced to fit MAX_SIDE x MAX_SIDE (never enlarged) and converted to RGBA on a
    copy; the argument is left as it was. Pass it already EXIF-transposed: ThumbHash records the
    aspect ratio of the pixels it is given.
    """
    return base64.b64encode(thumbhash_bytes(image)).decode("ascii")


def thumbhash_bytes(image: Image.Image) -> bytes:
    """ThumbHash of `image` as raw bytes (at most MAX_HASH_BYTES); see `thumbhash_of`.

    Any mode is accepted (16-bit and float grayscale are scaled to 8 bits, palette transparency
    becomes alpha); ValueError for an image with no pixels.
    """
    np = _numpy()
    small = _reduced_rgba(image)
    width, height = small.size
    pixels = np.frombuffer(small.tobytes(), dtype=np.uint8)
    return _rgba_to_thumbhash(width, height, pixels)


def decode_thumbhash(hash_: bytes) -> tuple[int, int, bytes]:
    """The placeholder a ThumbHash renders to: width, height (at most 32 px) and RGBA pixels
    (row by row, not premultiplied), as the reference's `thumbHashToRGBA` renders it.
    """
    np = _numpy()
    data = _checked(hash_)
    header24 = data[0] | (data[1] << 8) | (data[2] << 16)
    header16 = data[3] | (data[4] << 8)
    l_dc = (header24 & 63) / 63
    p_dc = ((header24 >> 6) & 63) / 31.5 - 1
    q_dc = ((header24 >> 12) & 63) / 31.5 - 1
    l_scale = ((header24 >> 18) & 31) / 31
    has_alpha = bool(header24 >> 23)
    p_scale = ((header16 >> 3) & 63) / 63
    q_scale = ((header16 >> 9) & 63) / 63
    is_landscape = bool(header16 >> 15)
    l_max = 5 if has_alpha else 7
    lx = max(3, l_max if is_landscape else header16 & 7)
    ly = max(3, header16 & 7 if is_landscape else l_max)
    a_dc = (_byte(data, 5) & 15) / 15 if has_alpha else 1.0
    a_scale = (_byte(data, 5) >> 4) / 15

    # The AC terms, boosted 1.25x in saturation to make up for quantisation (as the reference).
    ac_start = 6 if has_alpha else 5
    l_terms, next_index = _decode_channel(data, ac_start, 0, lx, ly, l_scale)
    p_terms, next_index = _decode_channel(data, ac_start, next_index, 3, 3, p_scale * 1.25)
    q_terms, next_index = _decode_channel(data, ac_start, next_index, 3, 3, q_scale * 1.25)
    a_terms = _decode_channel(data, ac_start, next_index, 5, 5, a_scale)[0] if has_alpha else []

    ratio = approximate_aspect_ratio(data)
    width = _js_round(_DECODED_SIDE if ratio > 1 else _DECODED_SIDE * ratio)
    height = _js_round(_DECODED_SIDE / ratio if ratio > 1 else _DECODED_SIDE)
    fx = _cosines(width, max(lx, 5 if has_alpha else 3), decoding=True)  # (width, n)
    fy2 = _cosines(height, max(ly, 5 if has_alpha else 3), decoding=True) * 2  # (height, n)

    def synthesise(
        dc: float, terms: list[tuple[int, int, float]], *, weight_first: bool
    ) -> np.ndarray:
        """dc + sum of the terms at every pixel, added in the reference's order."""
        grid = np.empty((height, width, len(terms) + 1))
        grid[:, :, 0] = dc
        for k, (cx, cy, coefficient) in enumerate(terms, start=1):
            column, row = fx[:, cx][None, :], fy2[:, cy][:, None]
            if weight_first:  # l += l_ac[j] * fx[cx] * fy2
                grid[:, :, k] = coefficient * column * row
            else:  # f = fx[cx] * fy2; p += p_ac[j] * f
                grid[:, :, k] = coefficient * (column * row)
        return np.cumsum(grid, axis=2)[:, :, -1]

    lum = synthesise(l_dc, l_terms, weight_first=True)
    p = synthesise(p_dc, p_terms, weight_first=False)
    q = synthesise(q_dc, q_terms, weight_first=False)
    alpha = synthesise(a_dc, a_terms, weight_first=True)
    b = lum - 2 / 3 * p
    r = (3 * lum - b + q) / 2
    g = r - q
    # Uint8Array stores max(0, 255 * min(1, v)) truncated toward zero.
    channels = [np.maximum(0, 255 * np.minimum(1, v)).astype(np.uint8) for v in (r, g, b, alpha)]
    return width, height, np.stack(channels, axis=2).tobytes()


def average_rgba(hash_: bytes) -> tuple[float, float, float, float]:
    """The image's average colour (red, green, blue, alpha), each 0-1, not premultiplied."""
    data = _checked(hash_)
    header = data[0] | (data[1] << 8) | (data[2] << 16)
    lum = (header & 63) / 63
    p = ((header >> 6) & 63) / 31.5 - 1
    q = ((header >> 12) & 63) / 31.5 - 1
    alpha = (data[5] & 15) / 15 if header >> 23 else 1.0
    b = lum - 2 / 3 * p
    r = (3 * lum - b + q) / 2
    g = r - q
    return (_clamp01(r), _clamp01(g), _clamp01(b), alpha)


def approximate_aspect_ratio(hash_: bytes) -> float:
    """The original image's width / height, approximately (a ratio of two numbers from 1 to 7)."""
    data = _checked(hash_)
    l_max = 5 if data[2] & 0x80 else 7
    is_landscape = data[4] & 0x80
    lx = l_max if is_landscape else data[3] & 7
    ly = data[3] & 7 if is_landscape else l_max
    if not lx or not ly:
        raise ValueError("not a ThumbHash: its aspect ratio has a zero side")
    return lx / ly


def _reduced_rgba(image: Image.Image) -> Image.Image:
    """A new RGBA image of at most MAX_SIDE x MAX_SIDE from `image`, which is not modified."""
    mode = image.mode
    source = image if mode in _RESIZE_FIRST_MODES or mode.startswith("I;16") else _to_rgba(image)
    width, height = source.size
    longest = max(width, height)
    if longest > MAX_SIDE:
        scale = MAX_SIDE / longest
        size = (
            min(MAX_SIDE, max(1, _js_round(width * scale))),
            min(MAX_SIDE, max(1, _js_round(height * scale))),
        )
        # BOX averages every source pixel, which is all a placeholder needs; reducing_gap lets
        # Pillow first reduce() by a whole factor (~1 ms in all for a 1440x1080 RGB preview,
        # half what a plain BOX resize takes; LANCZOS would cost several times more).
        source = source.resize(size, Image.Resampling.BOX, reducing_gap=2.0)
    return _to_rgba(source)


def _to_rgba(image: Image.Image) -> Image.Image:
    """`image` as a new 8-bit RGBA image; 16/32-bit grayscale is scaled to 8 bits, not clipped."""
    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        image = _wide_gray_to_l(image)
    elif mode == "La":  # premultiplied; Pillow converts it to LA only
        image = image.convert("LA")
    return image.convert("RGBA")


def _wide_gray_to_l(image: Image.Image) -> Image.Image:
    """16-bit (or 32-bit int/float) grayscale as 8-bit "L", scaled the way thumbnails.py scales
    it for renditions: I;16 by 1/257, I already in 0-255 as is, anything else by its extremes.
    """
    np = _numpy()
    mode = image.mode
    values = np.asarray(image if mode in ("I", "F") else image.convert("I"), dtype=np.float64)
    values = np.nan_to_num(values, posinf=0.0, neginf=0.0)  # "F" may hold NaN or infinities
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode != "F" and low >= 0 and high <= 255 and not mode.startswith("I;16"):
        scaled = values
    elif mode != "F" and low >= 0 and high <= 65535:
        scaled = values / 257
    elif high > low:
        scaled = (values - low) * (255 / (high - low))
    else:
        scaled = np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))  # 2-D uint8: "L"


def _rgba_to_thumbhash(w: int, h: int, rgba: np.ndarray) -> bytes:
    """The reference's `rgbaToThumbHash` on w*h RGBA pixels (uint8, row by row)."""
    np = _numpy()
    if w > MAX_SIDE or h > MAX_SIDE:
        raise ValueError(f"{w}x{h} doesn't fit in {MAX_SIDE}x{MAX_SIDE}")
    if w < 1 or h < 1 or rgba.size != w * h * 4:
        raise ValueError(f"{rgba.size} values are not a {w}x{h} RGBA image")
    px = rgba.reshape(h, w, 4).astype(np.float64)
    red, green, blue = px[:, :, 0], px[:, :, 1], px[:, :, 2]
    alpha = px[:, :, 3] / 255

    # The average colour, weighted by alpha.
    avg_r = _sequential_sum(alpha / 255 * red)
    avg_g = _sequential_sum(alpha / 255 * green)
    avg_b = _sequential_sum(alpha / 255 * blue)
    avg_a = _sequential_sum(alpha)
    if avg_a:
        avg_r /= avg_a
        avg_g /= avg_a
        avg_b /= avg_a

    has_alpha = avg_a < w * h
    l_limit = 5 if has_alpha else 7  # fewer luminance terms when alpha needs the room
    lx = max(1, _js_round(l_limit * w / max(w, h)))
    ly = max(1, _js_round(l_limit * h / max(w, h)))

    # RGBA to LPQA, composited over the average colour.
    r = avg_r * (1 - alpha) + alpha / 255 * red
    g = avg_g * (1 - alpha) + alpha / 255 * green
    b = avg_b * (1 - alpha) + alpha / 255 * blue
    lum = (r + g + b) / 3
    p = (r + g) / 2 - b  # yellow - blue
    q = r - g  # red - green

    l_dc, l_ac, l_scale = _encode_channel(lum, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(p, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(q, 3, 3)
    a_dc, a_ac, a_scale = _encode_channel(alpha, 5, 5) if has_alpha else (0.0, [], 0.0)

    is_landscape = w > h
    header24 = (
        _js_round(63 * l_dc)
        | (_js_round(31.5 + 31.5 * p_dc) << 6)
        | (_js_round(31.5 + 31.5 * q_dc) << 12)
        | (_js_round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if is_landscape else lx)
        | (_js_round(63 * p_scale) << 3)
        | (_js_round(63 * q_scale) << 9)
        | (int(is_landscape) << 15)
    )
    hash_ = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    if has_alpha:
        hash_.append(_js_round(15 * a_dc) | (_js_round(15 * a_scale) << 4))
    terms = [*l_ac, *p_ac, *q_ac, *a_ac]
    ac_start = len(hash_)
    hash_.extend([0] * ((len(terms) + 1) // 2))
    for index, term in enumerate(terms):
        hash_[ac_start + (index >> 1)] |= _js_round(15 * term) << ((index & 1) << 2)
    return bytes(value & 255 for value in hash_)  # Uint8Array keeps the low 8 bits


def _encode_channel(channel: np.ndarray, nx: int, ny: int) -> tuple[float, list[float], float]:
    """DCT of one (h, w) channel: the DC term, the AC terms normalised to 0-1, and their scale."""
    np = _numpy()
    h, w = channel.shape
    pairs = [(cx, cy) for cy in range(ny) for cx in range(nx) if cx * ny < nx * (ny - cy)]
    fx = _cosines(w, nx, decoding=False)  # (w, nx)
    fy = _cosines(h, ny, decoding=False)  # (h, ny)
    cx_index = np.array([cx for cx, _ in pairs])
    cy_index = np.array([cy for _, cy in pairs])
    # f += channel[x + y * w] * fx[x] * fy, summed row by row as the reference does.
    products = channel[None, :, :] * fx.T[cx_index][:, None, :] * fy.T[cy_index][:, :, None]
    sums = np.cumsum(products.reshape(len(pairs), h * w), axis=1)[:, -1] / (w * h)
    dc = float(sums[0])
    ac = [float(value) for value in sums[1:]]
    scale = max((abs(value) for value in ac), default=0.0)
    if scale:
        ac = [0.5 + 0.5 / scale * value for value in ac]
    return dc, ac, scale


def _decode_channel(
    data: bytes, ac_start: int, index: int, nx: int, ny: int, scale: float
) -> tuple[list[tuple[int, int, float]], int]:
    """The (cx, cy, coefficient) AC terms of one channel read from four-bit slot `index` on;
    also the slot after them.
    """
    terms: list[tuple[int, int, float]] = []
    for cy in range(ny):
        cx = 0 if cy else 1
        while cx * ny < nx * (ny - cy):
            nibble = (_byte(data, ac_start + (index >> 1)) >> ((index & 1) << 2)) & 15
            terms.append((cx, cy, (nibble / 7.5 - 1) * scale))
            index += 1
            cx += 1
    return terms, index


@functools.lru_cache(maxsize=512)
def _cosines(size: int, count: int, *, decoding: bool) -> np.ndarray:
    """cos(pi / size * c * (i + 0.5)) for pixel i < size and frequency c < count, shape
    (size, count), with the operations grouped as the reference's encoder or decoder groups them.
    math.cos (the C library's, correctly rounded in practice) rather than numpy's vectorised one;
    cached, as only a few hundred (size, count) pairs occur.
    """
    np = _numpy()
    step = math.pi / size
    if decoding:
        values = [[math.cos(step * (i + 0.5) * c) for c in range(count)] for i in range(size)]
    else:
        values = [[math.cos(step * c * (i + 0.5)) for c in range(count)] for i in range(size)]
    table = np.array(values, dtype=np.float64).reshape(size, count)
    table.flags.writeable = False  # shared by every call through the cache
    return table


def _sequential_sum(values: np.ndarray) -> float:
    """Left-to-right sum (as the reference's loops add), which np.sum's pairwise sum is not."""
    np = _numpy()
    return float(np.cumsum(values, axis=None)[-1]) if values.size else 0.0


def _js_round(value: float) -> int:
    """JavaScript's Math.round: the nearest integer, halves toward +infinity (Python's round
    takes halves to even). Exact for value >= 0, the only values the format rounds.
    """
    floor = math.floor(value)
    return floor + 1 if value - floor >= 0.5 else floor


def _clamp01(value: float) -> float:
    return max(0.0, min(1.0, value))


def _checked(hash_: bytes) -> bytes:
    """`hash_` as bytes, if long enough to hold a ThumbHash's header; ValueError otherwise.

    Missing AC bytes after the header read as zero, as they do in the reference decoder.
    """
    data = bytes(hash_)
    if len(data) < 5 or (data[2] & 0x80 and len(data) < 6):
        raise ValueError(f"not a ThumbHash: {len(data)} bytes is shorter than its header")
    return data


def _byte(data: bytes, index: int) -> int:
    return data[index] if index < len(data) else 0
