"""A deterministic corpus of damaged and unusual files, for fuzzing the pipeline end to end.

`generate_corpus(folder, seed, count)` writes at least `count` files and describes each one with
a `CorpusFile`: its `kind` (what the bytes were made as: jpeg, png, gif, webp, tiff, pdf or text),
its `mutation` (what was done to it), a `variant` (which flavour of that mutation) and whether
it is `intact` (a valid, ordinary file that must get every output: EXIF and renditions for
images, non-empty text for PDFs and text). The same seed gives a byte-identical corpus: every
random choice comes from `random.Random(seed)`, Pillow's encoders are deterministic, and PDFs
(the encrypted ones included) are written by hand rather than by pypdf, whose writer draws
random file identifiers.

Mutations:

- `intact`: what cameras and common tools write. JPEGs with real EXIF (make, model, dates,
  orientation, GPS as rationals), RGB/RGBA/palette PNGs, animated PNGs, static and animated
  GIFs, lossy/lossless/animated WebP, RGB and multi-page TIFFs, multi-page PDFs with text (some
  with compressed content streams), and UTF-8 text, Markdown, CSV and JSON.
- `wrong_extension` (intact): a valid image named with another format's extension.
- `many_pages` (intact): a valid 300-page PDF, more than text extraction reads.
- `encrypted`: an RC4-encrypted PDF; variant `owner_only` has an empty user password (every
  reader opens it, so it is intact), variant `user_password` cannot be read without one.
- `empty`: zero bytes.
- `truncated`: a valid file cut at a random point (sometimes inside the header).
- `bitflip`: a valid file with 1 to 40 random bits flipped, anywhere.
- `wrong_header`: a valid file whose magic bytes are replaced by another format's, zeroed, or
  preceded by junk.
- `odd_mode` (valid but unusual pixel formats): CMYK JPEG, 16-bit grayscale and 16-bit RGB PNG,
  LA and 1-bit PNG, palette with transparency (PNG and GIF), RGBA lossy WebP, 1-bit (Group 4),
  16-bit, 32-bit float, CMYK and LAB TIFF, GIF with many frames.
- `huge_exif_values`: hand-written EXIF (in JPEG, PNG eXIf, WebP and TIFF) with rationals 0/0
  and 1/0, LONG/LONG8/SLONG extremes, orientation 9999 or 2**32-1, GPS coordinates far out of
  range, impossible dates, NaN and infinite FLOAT/DOUBLE tags, entry counts pointing past the end.
- `nul_metadata`: NUL bytes, UTF-8-encoded surrogates (ED A0 80), invalid UTF-8 and UTF-16 with a
  lone surrogate in EXIF strings, JPEG comments, XMP, PNG text chunks, GIF comments, PDF
  document info and a PDF ToUnicode map that maps glyphs to a lone surrogate and to U+0000.
- `makernote_blob`: a 60 KB random MakerNote, or one claiming to be a FUJIFILM maker note whose
  inner IFD lies about its size.
- `exif_ifd_loop`: EXIF whose IFD pointers form loops (IFD0 -> IFD0, Exif -> GPS -> Exif).
- `bogus_icc`: an embedded ICC profile of random bytes (it would be copied into renditions).
- `zero_dimensions_header` / `huge_dimensions_header`: headers claiming 0 pixels, or tens of
  thousands of pixels per side (and TIFF 2**31) with tiny pixel data.
- `lying_size_header`: a WebP whose RIFF size field claims 4 GB.
- `unsupported_layout`: TIFFs with 7 bits per sample or strips pointing past the end.
- `many_text_chunks`: a PNG with 3000 text chunks.
- `broken_xref`: PDFs with shifted offsets, no xref table, startxref past the end, garbage
  entries, or a trailer without /Root.
- `circular_refs`: PDFs whose page tree contains itself, whose pages trees point at each other,
  whose resources are an object referring to itself, or whose form XObject draws itself.
- `huge_page_count`: a page tree with two real pages whose /Count says 2**31-1, -5, 1e30 or a
  string.
- `deep_nesting`: a PDF with an array nested 50 000 deep; JSON nested 100 000 deep.
- `deep_page_tree`: a PDF whose page tree is 2000 levels deep.
- `no_pages`: a PDF whose page tree is empty.
- `broken_stream_length`: content streams whose /Length is far too large or negative.
- `flate_bomb`: a PDF content stream that inflates from ~10 KB to 8 MB.
- `nul_bytes`, `invalid_utf8`, `utf16_bom`, `bom_only`, `control_chars`: text files with NULs,
  malformed UTF-8 (stray bytes, overlong forms, encoded surrogates, a bad byte at the end of
  the sniffed window), UTF-16 with a byte-order mark, only a BOM, and control characters.
- `long_line`: a 2 MB text file on a single line: the one file above the 300 KB size cap.
- `json_hostile`: JSON with NaN, a 5000-digit integer, `\\u0000` and lone-surrogate escapes.

Files are small (under `MAX_FILE_BYTES`, except `long_line`), images at most 1200x1200 except the
deliberately lying headers, and names are `NNN-kind-mutation[-variant].ext` in safe ASCII.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import math
import random
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational

Kind = Literal["jpeg", "png", "gif", "webp", "tiff", "pdf", "text"]
KINDS: tuple[Kind, ...] = ("jpeg", "png", "gif", "webp", "tiff", "pdf", "text")
IMAGE_KINDS: frozenset[Kind] = frozenset({"jpeg", "png", "gif", "webp", "tiff"})
EXTENSIONS: dict[Kind, str] = {
    "jpeg": "jpg",
    "png": "png",
    "gif": "gif",
    "webp": "webp",
    "tiff": "tif",
    "pdf": "pdf",
    "text": "txt",
}
DEFAULT_SEED = 20261125
MIN_INTACT_SHARE = 0.25
MAX_FILE_BYTES = 300_000
LONG_LINE_BYTES = 2 * 1024 * 1024
MAX_SIDE = 1200


@dataclass(frozen=True)
class CorpusFile:
    """One generated file and what was done to it."""

    path: Path
    kind: Kind
    mutation: str
    intact: bool
    variant: str = ""


Builder = Callable[[random.Random], bytes]


@dataclass(frozen=True)
class _Recipe:
    kind: Kind
    mutation: str
    variant: str
    intact: bool
    build: Builder
    extension: str | None = None


def generate_corpus(folder: Path, seed: int = DEFAULT_SEED, count: int = 240) -> list[CorpusFile]:
    """Write the corpus into `folder` (created if needed) and describe each file.

    At least `count` files: every special case below once, then ordinary files and generic
    damage (truncation, bit flips, wrong headers) over all kinds until `count` is reached and
    at least a quarter of the corpus is intact.
    """
    rng = random.Random(seed)
    recipes = _special_recipes()
    intact_needed = math.ceil(MIN_INTACT_SHARE * max(count, len(recipes)))
    intact_needed -= sum(recipe.intact for recipe in recipes)
    fill = max(count - len(recipes), intact_needed, 0)
    kinds = list(KINDS)
    for index in range(fill):
        kind = kinds[index % len(kinds)]
        if index < intact_needed:
            recipes.append(_intact_recipe(kind, rng))
        else:
            recipes.append(_generic_damage_recipe(kind, rng))
    rng.shuffle(recipes)

    folder.mkdir(parents=True, exist_ok=True)
    files: list[CorpusFile] = []
    for index, recipe in enumerate(recipes):
        data = recipe.build(random.Random(rng.getrandbits(64)))
        suffix = f"-{recipe.variant}" if recipe.variant else ""
        extension = recipe.extension or EXTENSIONS[recipe.kind]
        path = folder / f"{index:03d}-{recipe.kind}-{recipe.mutation}{suffix}.{extension}"
        path.write_bytes(data)
        files.append(CorpusFile(path, recipe.kind, recipe.mutation, recipe.intact, recipe.variant))
    return files


def _intact_recipe(kind: Kind, rng: random.Random) -> _Recipe:
    variants = _INTACT[kind]
    variant = rng.choice(sorted(variants))
    build, extension = variants[variant]
    return _Recipe(kind, "intact", variant, True, build, extension)


def _generic_damage_recipe(kind: Kind, rng: random.Random) -> _Recipe:
    mutation = rng.choice(("truncated", "truncated", "bitflip", "bitflip", "wrong_header"))
    variant = rng.choice(sorted(_INTACT[kind]))
    base, extension = _INTACT[kind][variant]
    damage = {"truncated": _truncate, "bitflip": _bitflip, "wrong_header": _wrong_header}[mutation]

    def build(file_rng: random.Random) -> bytes:
        return damage(base(file_rng), file_rng)

    return _Recipe(kind, mutation, variant, False, build, extension)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 2:
        return b""
    roll = rng.random()
    if roll < 0.25:
        cut = rng.randrange(1, min(64, len(data)))
    elif roll < 0.5:
        cut = len(data) - rng.randrange(1, min(64, len(data)))
    else:
        cut = rng.randrange(1, len(data))
    return data[:cut]


def _bitflip(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    damaged = bytearray(data)
    for _ in range(rng.randrange(1, 41)):
        position = rng.randrange(len(damaged))
        damaged[position] ^= 1 << rng.randrange(8)
    return bytes(damaged)


_MAGICS: tuple[bytes, ...] = (
    b"\xff\xd8\xff\xe0",
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"II*\x00",
    b"MM\x00*",
    b"%PDF-1.7",
    b"BM",
    b"PK\x03\x04",
    b"\x7fELF",
)


def _wrong_header(data: bytes, rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.6:
        own = next((magic for magic in _MAGICS if data.startswith(magic[:4])), b"")
        magic = rng.choice([magic for magic in _MAGICS if magic != own])
        return magic + data[len(magic) :]
    if roll < 0.8:
        return bytes(16) + data[16:]
    return rng.randbytes(rng.randrange(1, 64)) + data


def _fit(encode: Callable[[Image.Image], bytes], image: Image.Image, limit: int) -> bytes:
    """Encode, halving the image until the file is under `limit` bytes."""
    data = encode(image)
    while len(data) > limit and min(image.size) > 8:
        image = image.resize((max(1, image.width // 2), max(1, image.height // 2)))
        data = encode(image)
    return data


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _encoder(fmt: str, **options: object) -> Callable[[Image.Image], bytes]:
    def encode(image: Image.Image) -> bytes:
        return _save(image, fmt, **options)

    return encode


def _dimensions(rng: random.Random, largest: int = MAX_SIDE) -> tuple[int, int]:
    roll = rng.random()
    if roll < 0.05:
        return rng.randrange(1, 17), rng.randrange(1, 17)
    if roll < 0.75:
        return rng.randrange(48, min(640, largest) + 1), rng.randrange(48, min(640, largest) + 1)
    return rng.randrange(min(640, largest), largest + 1), rng.randrange(
        min(480, largest), largest + 1
    )


def _picture(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A smooth RGB picture (gradients and shapes): it compresses like a photo, not like noise."""
    width, height = size
    linear = Image.linear_gradient("L").resize(size)
    radial = Image.radial_gradient("L").resize(size)
    channels = [linear, radial, linear.transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    rng.shuffle(channels)
    image = Image.merge("RGB", channels)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randrange(2, 10)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1 = min(width, x0 + rng.randrange(1, max(2, width // 2)))
        y1 = min(height, y0 + rng.randrange(1, max(2, height // 2)))
        color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        shape = rng.choice(("ellipse", "rectangle", "line"))
        if shape == "ellipse":
            draw.ellipse((x0, y0, x1, y1), fill=color)
        elif shape == "rectangle":
            draw.rectangle((x0, y0, x1, y1), fill=color)
        else:
            draw.line((x0, y0, x1, y1), fill=color, width=rng.randrange(1, 6))
    return image


def _camera_exif(rng: random.Random) -> Image.Exif:
    """EXIF as a camera writes it, GPS position included."""
    exif = Image.Exif()
    make, model = rng.choice(
        (
            ("Canon", "Canon EOS R6"),
            ("NIKON CORPORATION", "NIKON Z 6"),
            ("Apple", "iPhone 15 Pro"),
            ("FUJIFILM", "X-T5"),
            ("SONY", "ILCE-7M4"),
        )
    )
    year, month, day = rng.randrange(2005, 2026), rng.randrange(1, 13), rng.randrange(1, 29)
    hour, minute, second = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    stamp = f"{year:04d}:{month:02d}:{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
    exif[0x010F] = make
    exif[0x0110] = model
    exif[0x0112] = rng.randrange(1, 9)
    exif[0x0131] = "Firmware 1.2.3"
    exif[0x0132] = stamp
    exif[0x011A] = IFDRational(72, 1)
    exif[0x011B] = IFDRational(72, 1)
    exif[0x8769] = {
        0x9003: stamp,
        0x9004: stamp,
        0x829A: IFDRational(1, rng.choice((60, 125, 250, 1000))),
        0x829D: IFDRational(rng.choice((14, 18, 28, 56)), 10),
        0x8827: rng.choice((100, 200, 400, 3200)),
        0x920A: IFDRational(rng.randrange(18, 200), 1),
    }
    latitude, longitude = rng.uniform(-89.9, 89.9), rng.uniform(-179.9, 179.9)
    exif[0x8825] = {
        0x0000: b"\x02\x03\x00\x00",
        0x0001: "N" if latitude >= 0 else "S",
        0x0002: _dms(abs(latitude)),
        0x0003: "E" if longitude >= 0 else "W",
        0x0004: _dms(abs(longitude)),
        0x0005: b"\x00",
        0x0006: IFDRational(rng.randrange(0, 300000), 100),
    }
    return exif


def _dms(degrees: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    whole = int(degrees)
    minutes = int((degrees - whole) * 60)
    seconds = round(((degrees - whole) * 60 - minutes) * 60 * 100)
    return IFDRational(whole, 1), IFDRational(minutes, 1), IFDRational(seconds, 100)


def _jpeg_intact(rng: random.Random) -> bytes:
    image = _picture(rng, _dimensions(rng))
    exif = _camera_exif(rng).tobytes()
    encode = _encoder(
        "JPEG",
        quality=rng.randrange(70, 96),
        progressive=rng.random() < 0.3,
        subsampling=rng.choice((0, 1, 2)),
        exif=exif,
    )
    return _fit(encode, image, MAX_FILE_BYTES)


def _png_intact(rng: random.Random) -> bytes:
    image = _picture(rng, _dimensions(rng, 800))
    image.putalpha(Image.radial_gradient("L").resize(image.size))
    return _fit(_encoder("PNG"), image, MAX_FILE_BYTES)


def _png_rgb(rng: random.Random) -> bytes:
    return _fit(
        _encoder("PNG", optimize=True), _picture(rng, _dimensions(rng, 800)), MAX_FILE_BYTES
    )


def _png_palette(rng: random.Random) -> bytes:
    image = _picture(rng, _dimensions(rng, 800)).quantize(colors=rng.choice((16, 64, 256)))
    return _fit(_encoder("PNG"), image, MAX_FILE_BYTES)


def _frames(rng: random.Random, size: tuple[int, int], count: int) -> list[Image.Image]:
    base = _picture(rng, size)
    frames = []
    for index in range(count):
        frame = base.copy()
        draw = ImageDraw.Draw(frame)
        step = index * max(1, size[0] // count)
        draw.rectangle((step, 0, step + max(1, size[0] // 8), size[1] // 3), fill=(255, 255, 0))
        frames.append(frame)
    return frames


def _apng(rng: random.Random) -> bytes:
    frames = _frames(rng, _dimensions(rng, 320), rng.randrange(2, 6))
    return _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _gif_animated(rng: random.Random) -> bytes:
    frames = [
        frame.quantize(64) for frame in _frames(rng, _dimensions(rng, 360), rng.randrange(2, 8))
    ]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)


def _gif_static(rng: random.Random) -> bytes:
    return _fit(_encoder("GIF"), _picture(rng, _dimensions(rng, 480)).quantize(128), MAX_FILE_BYTES)


def _webp_lossy(rng: random.Random) -> bytes:
    exif = _camera_exif(rng).tobytes() if rng.random() < 0.5 else b""
    encode = _encoder("WEBP", quality=rng.randrange(60, 95), exif=exif)
    return _fit(encode, _picture(rng, _dimensions(rng)), MAX_FILE_BYTES)


def _webp_lossless(rng: random.Random) -> bytes:
    image = _picture(rng, _dimensions(rng, 480))
    image.putalpha(Image.linear_gradient("L").resize(image.size))
    return _fit(_encoder("WEBP", lossless=True), image, MAX_FILE_BYTES)


def _webp_animated(rng: random.Random) -> bytes:
    frames = _frames(rng, _dimensions(rng, 320), rng.randrange(2, 6))
    return _save(
        frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, quality=70
    )


def _tiff_rgb(rng: random.Random) -> bytes:
    compression = rng.choice(("tiff_lzw", "tiff_adobe_deflate", "jpeg"))
    image = _picture(rng, _dimensions(rng, 400))
    return _fit(_encoder("TIFF", compression=compression), image, MAX_FILE_BYTES)


def _tiff_multipage(rng: random.Random) -> bytes:
    frames = _frames(rng, _dimensions(rng, 200), rng.randrange(2, 5))
    return _save(
        frames[0], "TIFF", save_all=True, append_images=frames[1:], compression="tiff_adobe_deflate"
    )


_VOCABULARY = (
    "invoice quarterly report holiday photo meeting notes budget forecast customer order "
    "shipment warehouse Zürich Ærøskøbing naïve café résumé Ελλάδα Москва 東京 数据 データ "
    "pipeline event storage metadata thumbnail preview checksum upload archive"
)
_WORDS = tuple(_VOCABULARY.split())
_ASCII_WORDS = [word for word in _WORDS if word.isascii()]


def _sentence(rng: random.Random, words: Sequence[str] = _WORDS) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randrange(4, 14))).capitalize() + "."


def _text_plain(rng: random.Random) -> bytes:
    paragraphs = [
        " ".join(_sentence(rng) for _ in range(rng.randrange(1, 6)))
        for _ in range(rng.randrange(1, 30))
    ]
    return ("\n\n".join(paragraphs) + "\n").encode("utf-8")


def _text_markdown(rng: random.Random) -> bytes:
    lines = ["# " + _sentence(rng), ""]
    for _ in range(rng.randrange(1, 10)):
        lines += ["## " + _sentence(rng), "", "- " + _sentence(rng), "- " + _sentence(rng), ""]
    return "\n".join(lines).encode("utf-8")


def _text_csv(rng: random.Random) -> bytes:
    rows = ["id,name,amount,city"]
    for index in range(rng.randrange(1, 200)):
        rows.append(f"{index},{rng.choice(_WORDS)},{rng.uniform(0, 1e4):.2f},{rng.choice(_WORDS)}")
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


def _text_json(rng: random.Random) -> bytes:
    document = {
        "title": _sentence(rng),
        "tags": [rng.choice(_WORDS) for _ in range(rng.randrange(1, 8))],
        "items": [
            {"name": rng.choice(_WORDS), "count": rng.randrange(100), "note": _sentence(rng)}
            for _ in range(rng.randrange(1, 40))
        ],
    }
    return json.dumps(document, ensure_ascii=rng.random() < 0.5, indent=2).encode("utf-8")


def _pdf_intact(rng: random.Random) -> bytes:
    pages = [
        [_sentence(rng, _ASCII_WORDS) for _ in range(rng.randrange(3, 30))]
        for _ in range(rng.randrange(1, 13))
    ]
    return _pdf_with_pages(pages, flate=rng.random() < 0.5, title=_sentence(rng, _ASCII_WORDS))


_INTACT: dict[Kind, dict[str, tuple[Builder, str | None]]] = {
    "jpeg": {"camera": (_jpeg_intact, None)},
    "png": {
        "rgba": (_png_intact, None),
        "rgb": (_png_rgb, None),
        "palette": (_png_palette, None),
        "apng": (_apng, None),
    },
    "gif": {"animated": (_gif_animated, None), "static": (_gif_static, None)},
    "webp": {
        "lossy": (_webp_lossy, None),
        "lossless": (_webp_lossless, None),
        "animated": (_webp_animated, None),
    },
    "tiff": {"rgb": (_tiff_rgb, None), "multipage": (_tiff_multipage, None)},
    "pdf": {"text": (_pdf_intact, None)},
    "text": {
        "plain": (_text_plain, None),
        "markdown": (_text_markdown, "md"),
        "csv": (_text_csv, "csv"),
        "json": (_text_json, "json"),
    },
}


_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL = 1, 2, 3, 4, 5
_UNDEFINED, _SLONG, _SRATIONAL, _FLOAT, _DOUBLE, _LONG8 = 7, 9, 10, 11, 12, 16


@dataclass(frozen=True)
class _IfdRef:
    """An entry's value: the offset of IFD number `index` of the same structure."""

    index: int


@dataclass(frozen=True)
class _Offset:
    """An entry's value: this raw offset, wherever it points."""

    offset: int


@dataclass(frozen=True)
class _Tag:
    tag: int
    type: int
    count: int
    value: bytes | _IfdRef | _Offset


def _ascii(tag: int, text: bytes) -> _Tag:
    return _Tag(tag, _ASCII, len(text) + 1, text + b"\x00")


def _shorts(tag: int, *values: int) -> _Tag:
    return _Tag(tag, _SHORT, len(values), struct.pack(f"<{len(values)}H", *values))


def _longs(tag: int, *values: int) -> _Tag:
    return _Tag(tag, _LONG, len(values), struct.pack(f"<{len(values)}I", *values))


def _rationals(tag: int, *pairs: tuple[int, int], signed: bool = False) -> _Tag:
    code = "i" if signed else "I"
    flat = [number for pair in pairs for number in pair]
    raw = struct.pack(f"<{len(flat)}{code}", *flat)
    return _Tag(tag, _SRATIONAL if signed else _RATIONAL, len(pairs), raw)


def _ifd_pointer(tag: int, index: int) -> _Tag:
    return _Tag(tag, _LONG, 1, _IfdRef(index))


def _tiff_structure(
    ifds: Sequence[Sequence[_Tag]],
    *,
    next_ifd: dict[int, int] | None = None,
    image_data: bytes = b"",
) -> tuple[bytes, int]:
    """Little-endian TIFF bytes with these IFDs (IFD 0 first) and the offset of `image_data`.

    Entries are written in the order given, so an IFD can be deliberately unsorted, and counts
    are written as given, so they can lie about the size of their values.
    """
    positions = []
    position = 8
    for ifd in ifds:
        positions.append(position)
        position += 2 + 12 * len(ifd) + 4
    data_start = position
    data = bytearray()
    out = bytearray(b"II*\x00" + struct.pack("<I", positions[0]))
    for index, ifd in enumerate(ifds):
        out += struct.pack("<H", len(ifd))
        for entry in ifd:
            value = entry.value
            if isinstance(value, _IfdRef):
                field = struct.pack("<I", positions[value.index])
            elif isinstance(value, _Offset):
                field = struct.pack("<I", value.offset & 0xFFFFFFFF)
            elif len(value) <= 4:
                field = value.ljust(4, b"\x00")
            else:
                if len(data) % 2:
                    data += b"\x00"
                field = struct.pack("<I", data_start + len(data))
                data += value
            out += struct.pack("<HHI", entry.tag, entry.type, entry.count) + field
        target = (next_ifd or {}).get(index)
        out += struct.pack("<I", positions[target] if target is not None else 0)
    out += data
    image_offset = len(out)
    out += image_data
    return bytes(out), image_offset


def _exif_app1(tiff: bytes) -> bytes:
    return b"Exif\x00\x00" + tiff


def _hostile_exif(variant: str) -> bytes:
    """EXIF (a TIFF structure, no "Exif" prefix) with the hostile values `variant` names."""
    ifd0: list[_Tag] = [_ascii(0x010F, b"Canon"), _ascii(0x0110, b"Canon EOS 5D")]
    exif_ifd: list[_Tag] = []
    gps: list[_Tag] = []
    if variant == "zero_rationals":
        ifd0 += [_rationals(0x011A, (0, 0)), _rationals(0x011B, (1, 0))]
        exif_ifd += [
            _rationals(0x829A, (0, 0)),
            _rationals(0x829D, (1, 0)),
            _rationals(0x9201, (0, 0), signed=True),
            _rationals(0x9203, (-1, 0), signed=True),
        ]
        gps += [
            _ascii(0x0001, b"N"),
            _rationals(0x0002, (0, 0), (0, 0), (0, 0)),
            _ascii(0x0003, b"E"),
            _rationals(0x0004, (1, 0), (5, 0), (0, 0)),
            _rationals(0x0006, (0, 0)),
        ]
    elif variant == "huge_ints":
        ifd0 += [_longs(0x0100, 0xFFFFFFFF), _longs(0x0101, 0xFFFFFFFF)]
        exif_ifd += [
            _longs(0xA002, 0xFFFFFFFF),
            _Tag(0xA003, _SLONG, 1, struct.pack("<i", -(2**31))),
            _Tag(0xC000, _LONG8, 1, struct.pack("<Q", 2**64 - 1)),
            _Tag(0xC001, _LONG8, 2, struct.pack("<2Q", 2**63, 2**64 - 2)),
            _rationals(0x9206, (0xFFFFFFFF, 1)),
            _rationals(0x9201, (-(2**31), -1), signed=True),
            _shorts(0x8827, 65535),
        ]
        gps += [_rationals(0x0006, (0xFFFFFFFF, 1)), _Tag(0x0005, _BYTE, 1, b"\xff")]
    elif variant == "orientation_9999":
        ifd0 += [_shorts(0x0112, 9999)]
    elif variant == "orientation_huge":
        ifd0 += [_longs(0x0112, 0xFFFFFFFF)]
    elif variant == "orientation_rational":
        ifd0 += [_rationals(0x0112, (0, 0))]
    elif variant == "gps_out_of_range":
        gps += [
            _ascii(0x0001, b"X"),
            _rationals(0x0002, (200, 1), (99, 1), (9999, 1)),
            _ascii(0x0003, b"\x00"),
            _rationals(0x0004, (0xFFFFFFFF, 1), (0xFFFFFFFF, 1), (0xFFFFFFFF, 1)),
            _rationals(0x0006, (10**9, 1)),
            _rationals(0x0007, (25, 1), (61, 1), (0, 0)),
            _ascii(0x001D, b"0000:00:00"),
        ]
    elif variant == "float_nan":
        exif_ifd += [
            _Tag(0xC010, _FLOAT, 3, struct.pack("<3f", math.nan, math.inf, -math.inf)),
            _Tag(0xC011, _DOUBLE, 3, struct.pack("<3d", math.nan, math.inf, -math.inf)),
            _Tag(0xA500, _DOUBLE, 1, struct.pack("<d", math.nan)),
        ]
        gps += [_Tag(0x0002, _DOUBLE, 3, struct.pack("<3d", math.nan, 1e308, -1e308))]
    elif variant == "bad_datetime":
        ifd0 += [_ascii(0x0132, b"9999:99:99 99:99:99")]
        exif_ifd += [
            _ascii(0x9003, b"0000:00:00 00:00:00"),
            _ascii(0x9004, b"2023:02:30 25:61:61"),
            _ascii(0x9010, b"+99:99"),
        ]
    elif variant == "lying_counts":
        ifd0 += [
            _Tag(0x010E, _ASCII, 0x7FFFFFFF, _Offset(0x7FFFFFF0)),
            _Tag(0x0131, _ASCII, 100_000, b"short\x00"),
            _Tag(0x011A, _RATIONAL, 0x20000000, _Offset(8)),
        ]
        exif_ifd += [_Tag(0x927C, _UNDEFINED, 0xFFFFFFFF, _Offset(0xFFFFFFF0))]
    else:
        raise ValueError(variant)
    ifds: list[list[_Tag]] = [ifd0]
    if exif_ifd:
        ifds.append(exif_ifd)
        ifd0.append(_ifd_pointer(0x8769, len(ifds) - 1))
    if gps:
        ifds.append(gps)
        ifd0.append(_ifd_pointer(0x8825, len(ifds) - 1))
    tiff, _ = _tiff_structure(ifds)
    return tiff


_HOSTILE_EXIF_VARIANTS = (
    "zero_rationals",
    "huge_ints",
    "orientation_9999",
    "orientation_huge",
    "orientation_rational",
    "gps_out_of_range",
    "float_nan",
    "bad_datetime",
    "lying_counts",
)


def _nul_exif(rng: random.Random) -> bytes:
    """EXIF strings with NULs, UTF-8-encoded surrogates, invalid UTF-8 and lone UTF-16 halves."""
    ifd0 = [
        _ascii(0x010F, b"Can\x00on\x00\x00junk"),
        _ascii(0x0110, b"\xed\xa0\x80EOS\xff\xfe\xc0\xaf"),
        _ascii(0x010E, b"\x00" * 40),
        _ascii(0x013B, bytes(range(1, 256))),
        _Tag(0x9C9B, _BYTE, 6, b"\x00\xd8A\x00\x00\x00"),
        _Tag(0x9C9C, _BYTE, 4, b"\x00\xdc\x00\xd8"),
        _Tag(0x0131, 129, 8, b"\xed\xb0\x80\x00\xf4\x90\x80\x80"),
    ]
    exif_ifd = [
        _Tag(0x9286, _UNDEFINED, 18, b"UNICODE\x00\x00\xd8\x00\xdcA\x00\x00\x00\x00\x00"),
        _ascii(0x9003, b"2023:07:14\x0016:32:10"),
        _ascii(0xA420, rng.randbytes(32).replace(b"\x00", b"\x01")),
    ]
    gps = [_ascii(0x0001, b"\x00"), _ascii(0x001B, b"ASCII\x00\x00\x00\xed\xa0\x80")]
    tiff, _ = _tiff_structure(
        [ifd0 + [_ifd_pointer(0x8769, 1), _ifd_pointer(0x8825, 2)], exif_ifd, gps]
    )
    return tiff


def _makernote_exif(rng: random.Random, fujifilm: bool) -> bytes:
    if fujifilm:
        inner = struct.pack("<H", 0xFFFF) + struct.pack("<HHI4s", 1, 4, 0x3FFFFFFF, b"\xff" * 4)
        note = b"FUJIFILM" + struct.pack("<I", 12) + inner + rng.randbytes(2000)
    else:
        note = rng.randbytes(60_000)
    exif_ifd = [_Tag(0x927C, _UNDEFINED, len(note), note), _ascii(0x9003, b"2021:01:01 00:00:00")]
    tiff, _ = _tiff_structure([[_ascii(0x010F, b"FUJIFILM"), _ifd_pointer(0x8769, 1)], exif_ifd])
    return tiff


def _looping_exif() -> bytes:
    ifd0 = [_ascii(0x010F, b"Loop"), _ifd_pointer(0x8769, 1), _ifd_pointer(0x8825, 2)]
    exif_ifd = [_ifd_pointer(0x8825, 2), _ifd_pointer(0xA005, 1), _ascii(0x9003, b"x")]
    gps = [_ifd_pointer(0x8769, 1), _ascii(0x0001, b"N")]
    tiff, _ = _tiff_structure([ifd0, exif_ifd, gps], next_ifd={0: 0, 1: 2, 2: 1})
    return tiff


def _small_picture(rng: random.Random, largest: int = 320) -> Image.Image:
    return _picture(rng, _dimensions(rng, largest))


def _jpeg_with_exif(exif: bytes) -> Builder:
    def build(rng: random.Random) -> bytes:
        return _save(_small_picture(rng), "JPEG", quality=80, exif=_exif_app1(exif))

    return build


def _png_with_exif(exif: bytes) -> Builder:
    def build(rng: random.Random) -> bytes:
        return _save(_small_picture(rng), "PNG", exif=_exif_app1(exif))

    return build


def _webp_with_exif(exif: bytes) -> Builder:
    def build(rng: random.Random) -> bytes:
        return _save(_small_picture(rng), "WEBP", quality=70, exif=_exif_app1(exif))

    return build


def _hand_tiff(
    extra_ifd0: Sequence[_Tag] = (),
    extra_ifds: Sequence[Sequence[_Tag]] = (),
    *,
    width: int = 32,
    height: int = 24,
    bits: int = 8,
    strip_offset: int | None = None,
    next_ifd: dict[int, int] | None = None,
) -> bytes:
    """An uncompressed 8-bit grayscale TIFF written by hand, with whatever tags are added."""
    pixels = bytes((x * 8 + y * 3) % 256 for y in range(24) for x in range(32))

    def layout(offset: int) -> list[list[_Tag]]:
        base = [
            _longs(0x0100, width),
            _longs(0x0101, height),
            _shorts(0x0102, bits),
            _shorts(0x0103, 1),
            _shorts(0x0106, 1),
            _longs(0x0111, offset if strip_offset is None else strip_offset),
            _shorts(0x0115, 1),
            _longs(0x0116, height),
            _longs(0x0117, len(pixels)),
        ]
        return [base + list(extra_ifd0), *[list(ifd) for ifd in extra_ifds]]

    _, offset = _tiff_structure(layout(0), next_ifd=next_ifd, image_data=pixels)
    tiff, real_offset = _tiff_structure(layout(offset), next_ifd=next_ifd, image_data=pixels)
    assert real_offset == offset
    return tiff


def _hostile_tiff(variant: str) -> Builder:
    """A hand-written TIFF whose own IFDs carry the hostile tags of `variant`."""
    ifd0, rest = _HOSTILE_TIFF_TAGS[variant]
    return lambda rng: _hand_tiff(ifd0, rest)


_HOSTILE_TIFF_TAGS: dict[str, tuple[list[_Tag], list[list[_Tag]]]] = {
    "float_nan": (
        [
            _Tag(0xC010, _FLOAT, 2, struct.pack("<2f", math.nan, math.inf)),
            _Tag(0xC011, _DOUBLE, 2, struct.pack("<2d", math.nan, -math.inf)),
            _ifd_pointer(0x8825, 1),
        ],
        [[_ascii(0x0001, b"N"), _Tag(0x0002, _DOUBLE, 3, struct.pack("<3d", math.nan, 0, 0))]],
    ),
    "zero_rationals": (
        [_rationals(0x011A, (0, 0)), _rationals(0x011B, (1, 0)), _shorts(0x0128, 2)],
        [],
    ),
    "huge_ints": (
        [
            _Tag(0xC000, _LONG8, 1, struct.pack("<Q", 2**64 - 1)),
            _Tag(0xC001, _SLONG, 1, struct.pack("<i", -(2**31))),
            _shorts(0x0112, 9999),
        ],
        [],
    ),
    "nul_strings": (
        [
            _ascii(0x010F, b"Ni\x00kon\x00"),
            _ascii(0x0110, b"\xed\xa0\x80\xff"),
            _ascii(0x0132, b"2020:01:01\x0000:00:00"),
        ],
        [],
    ),
}


def _odd_jpeg(variant: str) -> Builder:
    def build(rng: random.Random) -> bytes:
        image = _small_picture(rng, 640)
        if variant == "cmyk":
            return _save(image.convert("CMYK"), "JPEG", quality=85)
        return _save(image.convert("L"), "JPEG", quality=85, progressive=True)

    return build


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks = []
    position = 8
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunks.append((kind, data[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def _png_build(chunks: Sequence[tuple[bytes, bytes]]) -> bytes:
    out = bytearray(b"\x89PNG\r\n\x1a\n")
    for kind, body in chunks:
        out += struct.pack(">I", len(body)) + kind + body
        out += struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return bytes(out)


def _png_16bit_rgb(rng: random.Random) -> bytes:
    """16 bits per channel RGB, written by hand (Pillow cannot write it)."""
    width, height = rng.randrange(16, 200), rng.randrange(16, 200)
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows += struct.pack(">3H", x * 65535 // width, y * 65535 // height, 30000)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return _png_build([(b"IHDR", header), (b"IDAT", zlib.compress(bytes(rows), 9)), (b"IEND", b"")])


def _odd_png(variant: str) -> Builder:
    def build(rng: random.Random) -> bytes:
        image = _small_picture(rng, 480)
        if variant == "gray16":
            wide = image.convert("L").point(lambda value: value * 257, "I").convert("I;16")
            return _save(wide, "PNG")
        if variant == "rgb16":
            return _png_16bit_rgb(rng)
        if variant == "la":
            gray = image.convert("L")
            return _save(
                Image.merge("LA", (gray, Image.radial_gradient("L").resize(gray.size))), "PNG"
            )
        if variant == "bilevel":
            return _save(image.convert("1"), "PNG")
        palette = image.quantize(16)
        return _save(palette, "PNG", transparency=rng.randrange(16))

    return build


def _png_dimensions(width: int, height: int, *, truncate_idat: bool = False) -> Builder:
    def build(rng: random.Random) -> bytes:
        chunks = _png_chunks(_save(_small_picture(rng, 64).convert("L"), "PNG"))
        patched = []
        for kind, body in chunks:
            if kind == b"IHDR":
                body = struct.pack(">II", width, height) + body[8:]
            elif kind == b"IDAT" and truncate_idat:
                body = body[: len(body) // 2]
            patched.append((kind, body))
        return _png_build(patched)

    return build


def _png_text_chunks(variant: str) -> Builder:
    def build(rng: random.Random) -> bytes:
        chunks = _png_chunks(_save(_small_picture(rng, 200), "PNG"))
        extra: list[tuple[bytes, bytes]]
        if variant == "many":
            extra = [(b"tEXt", b"Comment%d\x00" % i + rng.randbytes(20)) for i in range(3000)]
        else:
            extra = [
                (b"tEXt", b"Title\x00Bad\x00value\x00\xff\xfe"),
                (b"tEXt", b"\x00\x00"),
                (b"zTXt", b"Author\x00\x00" + zlib.compress(b"Mall\x00ory \xed\xa0\x80")),
                (b"zTXt", b"Broken\x00\x00not zlib at all"),
                (b"iTXt", b"Description\x00\x00\x00\x00\x00\xed\xa0\x80 \xff invalid utf-8"),
                (b"iTXt", b"Comp\x00\x01\x00en\x00\x00" + zlib.compress(b"\xc0\xaf\x00")),
            ]
        return _png_build([chunks[0], *extra, *chunks[1:]])

    return build


def _png_exif(variant: str) -> Builder:
    return _png_with_exif(_hostile_exif(variant))


def _odd_gif(variant: str) -> Builder:
    def build(rng: random.Random) -> bytes:
        if variant == "many_frames":
            frames = [
                Image.new("P", (16, 16), index % 256) for index in range(rng.randrange(300, 500))
            ]
            return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10)
        image = _small_picture(rng, 320).quantize(32)
        return _save(image, "GIF", transparency=rng.randrange(32), interlace=True)

    return build


def _gif_patch(variant: str) -> Builder:
    def build(rng: random.Random) -> bytes:
        data = bytearray(_gif_static(rng))
        if variant == "zero":
            data[6:10] = struct.pack("<HH", 0, 0)
        elif variant == "huge":
            data[6:10] = struct.pack("<HH", 65535, 65535)
        elif variant == "frame_offset":
            descriptor = _gif_first_descriptor(data)
            data[descriptor + 1 : descriptor + 5] = struct.pack("<HH", 65000, 65000)
        return bytes(data)

    return build


def _gif_first_descriptor(data: bytes | bytearray) -> int:
    """Offset of the first image descriptor (0x2C), skipping the colour table and extensions."""
    position = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while data[position] == 0x21:
        position += 2
        while data[position]:
            position += data[position] + 1
        position += 1
    assert data[position] == 0x2C
    return position


def _gif_comment(rng: random.Random) -> bytes:
    image = _small_picture(rng, 200).quantize(64)
    return _save(image, "GIF", comment=b"\x00camera\x00\xed\xa0\x80\xff" + rng.randbytes(100))


def _odd_webp(rng: random.Random) -> bytes:
    image = _small_picture(rng, 480)
    image.putalpha(Image.radial_gradient("L").resize(image.size))
    return _save(image, "WEBP", quality=60)


def _webp_xmp(rng: random.Random) -> bytes:
    xmp = b"<x:xmpmeta>\x00\xed\xa0\x80\xff" + rng.randbytes(200) + b"</x:xmpmeta>"
    return _save(_small_picture(rng), "WEBP", quality=70, xmp=xmp, exif=_exif_app1(_nul_exif(rng)))


def _webp_patch(variant: str) -> Builder:
    def build(rng: random.Random) -> bytes:
        data = bytearray(_save(_small_picture(rng), "WEBP", quality=70))
        if variant == "riff_size":
            data[4:8] = b"\xff\xff\xff\xff"
        else:
            start = data.index(b"\x9d\x01\x2a") + 3
            value = 0 if variant == "zero" else 16383
            data[start : start + 4] = struct.pack("<HH", value, value)
        return bytes(data)

    return build


def _odd_tiff(variant: str) -> Builder:
    def build(rng: random.Random) -> bytes:
        image = _picture(rng, _dimensions(rng, 240))
        if variant == "bilevel_g4":
            return _save(image.convert("1"), "TIFF", compression="group4")
        if variant == "gray16":
            wide = image.convert("L").point(lambda value: value * 257, "I").convert("I;16")
            return _save(wide, "TIFF", compression="tiff_adobe_deflate")
        if variant == "float32":
            return _save(image.convert("F"), "TIFF", compression="tiff_adobe_deflate")
        if variant == "cmyk":
            return _save(image.convert("CMYK"), "TIFF", compression="tiff_lzw")
        lab = image.convert("LAB")
        lab.info.pop("icc_profile", None)  # lcms stamps the profile it makes with the time
        return _save(lab, "TIFF", compression="tiff_adobe_deflate")

    return build


def _jpeg_sof(width: int, height: int) -> Builder:
    def build(rng: random.Random) -> bytes:
        data = bytearray(_save(_small_picture(rng), "JPEG", quality=80))
        marker = data.index(b"\xff\xc0")
        data[marker + 5 : marker + 9] = struct.pack(">HH", height, width)
        return bytes(data)

    return build


def _jpeg_comment(rng: random.Random) -> bytes:
    xmp = b"<?xpacket begin='\xef\xbb\xbf'?>\x00\xed\xa0\x80" + rng.randbytes(64)
    return _save(
        _small_picture(rng), "JPEG", comment=b"\x00\xff\xfe\xed\xa0\x80 comment\x00", xmp=xmp
    )


def _jpeg_icc(rng: random.Random) -> bytes:
    return _save(_small_picture(rng), "JPEG", icc_profile=rng.randbytes(rng.randrange(10, 3000)))


def _png_icc(rng: random.Random) -> bytes:
    return _save(_small_picture(rng), "PNG", icc_profile=rng.randbytes(500))


def _text_nul(rng: random.Random) -> bytes:
    text = bytearray(_text_plain(rng))
    for _ in range(rng.randrange(1, 20)):
        text.insert(rng.randrange(len(text) + 1), 0)
    return bytes(text)


def _text_invalid_utf8(variant: str) -> Builder:
    def build(rng: random.Random) -> bytes:
        text = _text_plain(rng)
        if variant == "end_of_window":
            body = (text * (8192 // len(text) + 1))[:8190]
            return body + b"\xe2\x82" + b" more text after the sniffed window\n"
        if variant == "after_window":
            body = (text * (9000 // len(text) + 1))[:9000]
            return body + b"\xff\xfe\xc0\xaf\xed\xa0\x80" + text
        junk = (b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80")
        damaged = bytearray(text)
        for _ in range(rng.randrange(1, 10)):
            damaged[rng.randrange(len(damaged) + 1) : 0] = rng.choice(junk)
        return bytes(damaged)

    return build


def _text_utf16(rng: random.Random) -> bytes:
    text = _text_plain(rng).decode("utf-8")
    if rng.random() < 0.5:
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    return codecs.BOM_UTF16_BE + text.encode("utf-16-be")


def _text_control(rng: random.Random) -> bytes:
    controls = "\x01\x07\x08\x0b\x0c\x1b\x7f\x85\u200b\u202e\ufeff\ufffe\U0010ffff"
    text = _text_plain(rng).decode("utf-8")
    pieces = [text[i : i + 7] + rng.choice(controls) for i in range(0, len(text), 7)]
    return "".join(pieces).encode("utf-8")


def _text_long_line(rng: random.Random) -> bytes:
    unit = " ".join(rng.choice(_WORDS) for _ in range(200)).encode("utf-8") + b" "
    return (unit * (LONG_LINE_BYTES // len(unit) + 1))[:LONG_LINE_BYTES]


def _json_hostile(variant: str) -> Builder:
    def build(rng: random.Random) -> bytes:
        if variant == "deep":
            return b"[" * 100_000 + b"]" * 100_000
        if variant == "huge_number":
            return b'{"n": ' + b"9" * 5000 + b', "f": 1e999999, "word": "kept"}'
        if variant == "nan":
            return b'{"a": NaN, "b": Infinity, "c": -Infinity, "word": "kept"}'
        return b'{"nul": "a\\u0000b", "lone": "x\\ud800y", "pair": "\\ud83d\\ude00", "\\udc00": 1}'

    return build


_PDF_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"


@dataclass(frozen=True)
class _Stream:
    entries: bytes
    data: bytes


_PdfObject = bytes | _Stream


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1", "replace") + b")"


def _content(lines: Sequence[str], font: bytes = b"/F1") -> bytes:
    out = [b"BT", font + b" 11 Tf", b"14 TL", b"50 760 Td"]
    for line in lines:
        out.append(_pdf_string(line) + b" Tj T*")
    out.append(b"ET")
    return b"\n".join(out)


def _serialize(number: int, obj: _PdfObject) -> bytes:
    if isinstance(obj, _Stream):
        body = (
            b"<< "
            + obj.entries
            + b" /Length %d >>\nstream\n" % len(obj.data)
            + obj.data
            + b"\nendstream"
        )
    else:
        body = obj
    return b"%d 0 obj\n" % number + body + b"\nendobj\n"


_XrefDamage = Literal["shifted", "missing", "past_eof", "garbage"]
_XREF_DAMAGES: tuple[_XrefDamage, ...] = ("shifted", "missing", "past_eof", "garbage")


def _pdf_document(
    objects: Sequence[_PdfObject],
    *,
    trailer: bytes = b"/Root 1 0 R",
    xref: _XrefDamage | Literal["ok"] = "ok",
) -> bytes:
    """A PDF from objects numbered 1.. in order, with a classic xref table (or a broken one)."""
    out = bytearray(_PDF_HEADER)
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += _serialize(number, obj)
    if xref == "missing":
        return bytes(out + b"%%EOF\n")
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        if xref == "shifted":
            offset += 7
        elif xref == "garbage":
            offset = offset * 31 % 99991
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d " % (len(objects) + 1) + trailer + b" >>\n"
    out += b"startxref\n%d\n%%%%EOF\n" % (start + 10**6 if xref == "past_eof" else start)
    return bytes(out)


def _page_objects(
    pages: Sequence[Sequence[str]], *, flate: bool, first: int
) -> tuple[list[_PdfObject], list[int]]:
    """Page and content objects numbered from `first`; their parent is object 2, font 3."""
    objects: list[_PdfObject] = []
    numbers = []
    for index, lines in enumerate(pages):
        page_number = first + 2 * index
        numbers.append(page_number)
        content = _content(lines)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_number + 1)
        )
        if flate:
            objects.append(_Stream(b"/Filter /FlateDecode", zlib.compress(content, 9)))
        else:
            objects.append(_Stream(b"", content))
    return objects, numbers


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def _kids(numbers: Sequence[int]) -> bytes:
    return b"[" + b" ".join(b"%d 0 R" % number for number in numbers) + b"]"


def _pdf_with_pages(
    pages: Sequence[Sequence[str]],
    *,
    flate: bool = False,
    title: str | None = None,
    count: bytes | None = None,
) -> bytes:
    page_objects, numbers = _page_objects(pages, flate=flate, first=4)
    pages_count = count if count is not None else b"%d" % len(numbers)
    objects: list[_PdfObject] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids " + _kids(numbers) + b" /Count " + pages_count + b" >>",
        _FONT,
        *page_objects,
    ]
    trailer = b"/Root 1 0 R"
    if title is not None:
        objects.append(b"<< /Title " + _pdf_string(title) + b" /Producer (fuzz_corpus) >>")
        trailer += b" /Info %d 0 R" % len(objects)
    return _pdf_document(objects, trailer=trailer)


def _some_pages(rng: random.Random, count: int) -> list[list[str]]:
    return [
        [_sentence(rng, _ASCII_WORDS) for _ in range(rng.randrange(2, 8))] for _ in range(count)
    ]


def _pdf_many_pages(rng: random.Random) -> bytes:
    pages = [[f"Page {index + 1}", _sentence(rng, _ASCII_WORDS)] for index in range(300)]
    return _pdf_with_pages(pages, flate=True)


def _pdf_broken_xref(variant: _XrefDamage) -> Builder:
    def build(rng: random.Random) -> bytes:
        page_objects, numbers = _page_objects(_some_pages(rng, 2), flate=False, first=4)
        objects: list[_PdfObject] = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids " + _kids(numbers) + b" /Count 2 >>",
            _FONT,
            *page_objects,
        ]
        return _pdf_document(objects, xref=variant)

    return build


def _pdf_no_root(rng: random.Random) -> bytes:
    page_objects, numbers = _page_objects(_some_pages(rng, 1), flate=False, first=4)
    objects: list[_PdfObject] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids " + _kids(numbers) + b" /Count 1 >>",
        _FONT,
        *page_objects,
    ]
    return _pdf_document(objects, trailer=b"/Info 1 0 R")


def _pdf_circular(variant: str) -> Builder:
    def build(rng: random.Random) -> bytes:
        lines = [_sentence(rng, _ASCII_WORDS) for _ in range(3)]
        content = _Stream(b"", _content(lines))
        page = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>"
        )
        if variant == "kids_self":
            pages = b"<< /Type /Pages /Kids [4 0 R 2 0 R] /Count 2 >>"
            objects: list[_PdfObject] = [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                pages,
                _FONT,
                page,
                content,
            ]
        elif variant == "kids_mutual":
            objects = [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [6 0 R 4 0 R] /Count 3 >>",
                _FONT,
                page,
                content,
                b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>",
            ]
        elif variant == "self_reference":
            objects = [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
                _FONT,
                b"<< /Type /Page /Parent 2 0 R /MediaBox 6 0 R /Resources 6 0 R /Contents 5 0 R >>",
                content,
                b"6 0 R",
            ]
        else:  # an XObject that draws itself
            form = _Stream(
                b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] "
                b"/Resources << /Font << /F1 3 0 R >> /XObject << /X1 6 0 R >> >>",
                _content(lines) + b"\n/X1 Do",
            )
            objects = [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
                _FONT,
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font "
                b"<< /F1 3 0 R >> /XObject << /X1 6 0 R >> >> /Contents 5 0 R >>",
                _Stream(b"", b"/X1 Do"),
                form,
            ]
        return _pdf_document(objects)

    return build


def _pdf_count(count: bytes) -> Builder:
    return lambda rng: _pdf_with_pages(_some_pages(rng, 2), count=count)


def _pdf_deep_array(rng: random.Random) -> bytes:
    page_objects, numbers = _page_objects(_some_pages(rng, 1), flate=False, first=4)
    deep = b"[" * 50_000 + b"]" * 50_000
    page_objects[0] = page_objects[0][:-2] + b" /Fuzz " + deep + b" >>"
    objects: list[_PdfObject] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids " + _kids(numbers) + b" /Count 1 >>",
        _FONT,
        *page_objects,
    ]
    return _pdf_document(objects)


def _pdf_deep_tree(rng: random.Random) -> bytes:
    depth = 2000
    objects: list[_PdfObject] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    # Pages nodes are objects 2 .. depth+1; the leaf page and its content follow; font last.
    for level in range(depth):
        number = 2 + level
        parent = b" /Parent %d 0 R" % (number - 1) if level else b""
        objects.append(b"<< /Type /Pages%s /Kids [%d 0 R] /Count 1 >>" % (parent, number + 1))
    leaf = depth + 2
    font = leaf + 2
    objects.append(
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 "
        b"%d 0 R >> >> /Contents %d 0 R >>" % (leaf - 1, font, leaf + 1)
    )
    objects.append(_Stream(b"", _content([_sentence(rng, _ASCII_WORDS)])))
    objects.append(_FONT)
    return _pdf_document(objects)


def _pdf_no_pages(rng: random.Random) -> bytes:
    objects: list[_PdfObject] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
    ]
    return _pdf_document(objects)


def _pdf_stream_length(length: int) -> Builder:
    def build(rng: random.Random) -> bytes:
        data = _pdf_with_pages(_some_pages(rng, 2))
        marker = b"/Length "
        position = data.index(marker) + len(marker)
        end = data.index(b" ", position)
        return data[:position] + b"%d" % length + data[end:]

    return build


def _pdf_flate_bomb(rng: random.Random) -> bytes:
    content = b"BT /F1 11 Tf 50 760 Td (" + b"bomb " * 10 + b") Tj ET\n" + b" " * 8_000_000
    objects: list[_PdfObject] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        _FONT,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
        _Stream(b"/Filter /FlateDecode", zlib.compress(content, 9)),
    ]
    return _pdf_document(objects)


def _pdf_nul_info(rng: random.Random) -> bytes:
    data = _pdf_with_pages(_some_pages(rng, 2))
    info = (
        b"<< /Title (Nul\\000in\\000title) /Author <FEFFD800DC00D800> "
        b"/Subject <FEFF0041000000420> /Keywords (\\377\\376\\355\\240\\200) >>"
    )
    cut = data.index(b"xref\n")
    objects_part = data[:cut] + b"%d 0 obj\n" % 99 + info + b"\nendobj\n"
    return _reindex(objects_part, b"/Root 1 0 R /Info 99 0 R")


def _reindex(objects_part: bytes, trailer: bytes) -> bytes:
    """Append an xref table for every `N 0 obj` found in `objects_part` (numbers may skip)."""
    offsets: dict[int, int] = {}
    position = 0
    while True:
        position = objects_part.find(b" 0 obj\n", position)
        if position < 0:
            break
        line_start = objects_part.rfind(b"\n", 0, position) + 1
        offsets[int(objects_part[line_start:position])] = line_start
        position += 1
    size = max(offsets) + 1
    out = bytearray(objects_part)
    start = len(out)
    out += b"xref\n0 %d\n" % size
    for number in range(size):
        if number in offsets:
            out += b"%010d 00000 n \n" % offsets[number]
        else:
            out += b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d " % size + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % start
    return bytes(out)


def _pdf_tounicode(rng: random.Random) -> bytes:
    """Glyph codes mapped by a ToUnicode CMap to a lone surrogate and to U+0000."""
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap "
        b"/CMapName /Fuzz def 1 begincodespacerange <00> <FF> endcodespacerange "
        b"4 beginbfchar <41> <D800> <42> <0000> <43> <DC00D800> <44> <0041> endbfchar "
        b"endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    font = (
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding "
        b"/ToUnicode 6 0 R >>"
    )
    objects: list[_PdfObject] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        font,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
        _Stream(b"", b"BT /F1 12 Tf 50 700 Td (ABCDABCD) Tj ET"),
        _Stream(b"", cmap),
    ]
    return _pdf_document(objects)


_PDF_PADDING = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def _pdf_encrypted(user_password: bytes) -> Builder:
    """RC4 40-bit (standard security handler, revision 2), written by hand to stay deterministic."""

    def build(rng: random.Random) -> bytes:
        owner_password = b"owner-" + rng.randbytes(4).hex().encode()
        file_id = rng.randbytes(16)
        permissions = -44
        owner_key = _md5((owner_password + _PDF_PADDING)[:32])[:5]
        owner_entry = _rc4(owner_key, (user_password + _PDF_PADDING)[:32])
        key = _md5(
            (user_password + _PDF_PADDING)[:32]
            + owner_entry
            + struct.pack("<i", permissions)
            + file_id
        )[:5]
        user_entry = _rc4(key, _PDF_PADDING)
        page_objects, numbers = _page_objects(
            _some_pages(rng, rng.randrange(1, 4)), flate=False, first=4
        )
        objects: list[_PdfObject] = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids " + _kids(numbers) + b" /Count %d >>" % len(numbers),
            _FONT,
            *page_objects,
        ]
        for index, obj in enumerate(objects):
            if isinstance(obj, _Stream):
                number = index + 1
                object_key = _md5(key + struct.pack("<I", number)[:3] + b"\x00\x00")[:10]
                objects[index] = _Stream(obj.entries, _rc4(object_key, obj.data))
        encrypt_number = len(objects) + 1
        objects.append(
            b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
            % (owner_entry.hex().encode(), user_entry.hex().encode(), permissions)
        )
        trailer = b"/Root 1 0 R /Encrypt %d 0 R /ID [<%s> <%s>]" % (
            encrypt_number,
            file_id.hex().encode(),
            file_id.hex().encode(),
        )
        return _pdf_document(objects, trailer=trailer)

    return build


def _empty(rng: random.Random) -> bytes:
    return b""


def _wrong_extension(kind: Kind) -> Builder:
    base, _ = _INTACT[kind][sorted(_INTACT[kind])[0]]
    return base


def _special_recipes() -> list[_Recipe]:
    """Every hand-picked case once, in a fixed order."""
    recipes: list[_Recipe] = []

    def add(
        kind: Kind,
        mutation: str,
        variant: str,
        build: Builder,
        *,
        intact: bool = False,
        extension: str | None = None,
    ) -> None:
        recipes.append(_Recipe(kind, mutation, variant, intact, build, extension))

    for kind in KINDS:
        add(kind, "empty", "", _empty)
        for variant, (build, extension) in sorted(_INTACT[kind].items()):
            add(kind, "intact", variant, build, intact=True, extension=extension)
    add("png", "wrong_extension", "as_jpg", _wrong_extension("png"), intact=True, extension="jpg")
    add("jpeg", "wrong_extension", "as_png", _wrong_extension("jpeg"), intact=True, extension="png")
    add("webp", "wrong_extension", "as_gif", _wrong_extension("webp"), intact=True, extension="gif")
    add("pdf", "many_pages", "300", _pdf_many_pages, intact=True)
    add("pdf", "encrypted", "owner_only", _pdf_encrypted(b""), intact=True)
    add("pdf", "encrypted", "user_password", _pdf_encrypted(b"secret"))

    add("jpeg", "odd_mode", "cmyk", _odd_jpeg("cmyk"))
    add("jpeg", "odd_mode", "gray_progressive", _odd_jpeg("gray"))
    for variant in ("gray16", "rgb16", "la", "bilevel", "palette_transparency"):
        add("png", "odd_mode", variant, _odd_png(variant))
    add("gif", "odd_mode", "palette_transparency", _odd_gif("transparency"))
    add("gif", "odd_mode", "many_frames", _odd_gif("many_frames"))
    add("webp", "odd_mode", "rgba_lossy", _odd_webp)
    for variant in ("bilevel_g4", "gray16", "float32", "cmyk", "lab"):
        add("tiff", "odd_mode", variant, _odd_tiff(variant))

    for variant in _HOSTILE_EXIF_VARIANTS:
        add("jpeg", "huge_exif_values", variant, _jpeg_exif(variant))
    for variant in ("zero_rationals", "float_nan", "orientation_huge"):
        add("png", "huge_exif_values", variant, _png_exif(variant))
        add("webp", "huge_exif_values", variant, _webp_exif(variant))
    for variant in ("float_nan", "zero_rationals", "huge_ints"):
        add("tiff", "huge_exif_values", variant, _hostile_tiff(variant))

    add("jpeg", "nul_metadata", "exif_strings", lambda rng: _jpeg_with_exif(_nul_exif(rng))(rng))
    add("jpeg", "nul_metadata", "comment_xmp", _jpeg_comment)
    add("png", "nul_metadata", "exif_strings", lambda rng: _png_with_exif(_nul_exif(rng))(rng))
    add("png", "nul_metadata", "text_chunks", _png_text_chunks("hostile"))
    add("png", "many_text_chunks", "3000", _png_text_chunks("many"))
    add("gif", "nul_metadata", "comment", _gif_comment)
    add("webp", "nul_metadata", "xmp_exif", _webp_xmp)
    add("tiff", "nul_metadata", "ascii_tags", _hostile_tiff("nul_strings"))
    add("pdf", "nul_metadata", "info", _pdf_nul_info)
    add("pdf", "nul_metadata", "tounicode_surrogate", _pdf_tounicode)

    add(
        "jpeg",
        "makernote_blob",
        "random_60k",
        lambda rng: _jpeg_with_exif(_makernote_exif(rng, False))(rng),
    )
    add(
        "jpeg",
        "makernote_blob",
        "fujifilm",
        lambda rng: _jpeg_with_exif(_makernote_exif(rng, True))(rng),
    )
    add("jpeg", "exif_ifd_loop", "", _jpeg_with_exif(_looping_exif()))
    add("png", "exif_ifd_loop", "", _png_with_exif(_looping_exif()))
    add("tiff", "exif_ifd_loop", "next_ifd_self", lambda rng: _hand_tiff(next_ifd={0: 0}))
    add("jpeg", "bogus_icc", "", _jpeg_icc)
    add("png", "bogus_icc", "", _png_icc)

    add("jpeg", "zero_dimensions_header", "height0", _jpeg_sof(64, 0))
    add("jpeg", "zero_dimensions_header", "width0", _jpeg_sof(0, 64))
    add("jpeg", "huge_dimensions_header", "65500", _jpeg_sof(65500, 65500))
    add("png", "zero_dimensions_header", "", _png_dimensions(0, 0))
    add("png", "huge_dimensions_header", "100000", _png_dimensions(100_000, 100_000))
    add(
        "png",
        "huge_dimensions_header",
        "8000_truncated",
        _png_dimensions(8000, 8000, truncate_idat=True),
    )
    add("gif", "zero_dimensions_header", "", _gif_patch("zero"))
    add("gif", "huge_dimensions_header", "65535", _gif_patch("huge"))
    add("gif", "huge_dimensions_header", "frame_offset", _gif_patch("frame_offset"))
    add("webp", "zero_dimensions_header", "", _webp_patch("zero"))
    add("webp", "huge_dimensions_header", "16383", _webp_patch("huge"))
    add("webp", "lying_size_header", "riff_4gb", _webp_patch("riff_size"))
    add("tiff", "zero_dimensions_header", "", lambda rng: _hand_tiff(width=0, height=0))
    add("tiff", "huge_dimensions_header", "2_31", lambda rng: _hand_tiff(width=2**31, height=2**31))
    add(
        "tiff", "huge_dimensions_header", "60000", lambda rng: _hand_tiff(width=60000, height=60000)
    )
    add("tiff", "unsupported_layout", "bits7", lambda rng: _hand_tiff(bits=7))
    add("tiff", "unsupported_layout", "strip_past_end", lambda rng: _hand_tiff(strip_offset=10**8))

    for damage in _XREF_DAMAGES:
        add("pdf", "broken_xref", damage, _pdf_broken_xref(damage))
    add("pdf", "broken_xref", "no_root", _pdf_no_root)
    for variant in ("kids_self", "kids_mutual", "self_reference", "xobject_self"):
        add("pdf", "circular_refs", variant, _pdf_circular(variant))
    for variant, count in (
        ("2_31", b"2147483647"),
        ("negative", b"-5"),
        ("float", b"1000000000000000000000000000000.0"),
        ("string", b"(many)"),
    ):
        add("pdf", "huge_page_count", variant, _pdf_count(count))
    add("pdf", "deep_nesting", "array_50000", _pdf_deep_array)
    add("pdf", "deep_page_tree", "2000", _pdf_deep_tree)
    add("pdf", "no_pages", "", _pdf_no_pages)
    add("pdf", "broken_stream_length", "huge", _pdf_stream_length(10**9))
    add("pdf", "broken_stream_length", "negative", _pdf_stream_length(-1))
    add("pdf", "flate_bomb", "8mb", _pdf_flate_bomb)

    add("text", "nul_bytes", "", _text_nul)
    for variant in ("scattered", "end_of_window", "after_window"):
        add("text", "invalid_utf8", variant, _text_invalid_utf8(variant))
    add("text", "utf16_bom", "", _text_utf16)
    add("text", "bom_only", "", lambda rng: codecs.BOM_UTF8)
    add("text", "control_chars", "", _text_control)
    add("text", "long_line", "2mb", _text_long_line)
    add("text", "deep_nesting", "json_100000", _json_hostile("deep"), extension="json")
    for variant in ("huge_number", "nan", "escapes"):
        add("text", "json_hostile", variant, _json_hostile(variant), extension="json")
    add("text", "wrong_header", "pdf_magic", lambda rng: b"%PDF-1.7\n" + _text_plain(rng))
    return recipes


def _jpeg_exif(variant: str) -> Builder:
    return _jpeg_with_exif(_hostile_exif(variant))


def _webp_exif(variant: str) -> Builder:
    return _webp_with_exif(_hostile_exif(variant))
