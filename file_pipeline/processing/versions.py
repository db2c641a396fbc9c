"""Stage versions: what makes one output different from another made by the same stage.

Each stage's version is computed from what shapes its output: the rendition sizes, formats and
qualities; the text extractor's limits; the ClamAV signature database; and a code version bumped
by hand when the stage's logic changes. Every output row records the version it was made with,
the assets carry it as their `code_version`, and an output is *stale* when its version is not
today's. Pure functions, no Dagster.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from file_pipeline.states import Stage

CODE_VERSIONS = {
    Stage.VIRUS_SCAN: "1",
    Stage.EXIF_METADATA: "2",
    Stage.THUMBNAILS: "3",
    Stage.SEARCH_INDEX: "3",
    Stage.NOTIFICATIONS: "1",
}
"""Bump a stage's number when its logic changes what it produces."""

RENDITION_FORMATS = {"webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png"}


@dataclass(frozen=True)
class RenditionSpec:
    """One rendition of a clean image: fits within `longest_side` pixels, never upscaled."""

    name: str
    longest_side: int
    format: str
    quality: int

    @property
    def content_type(self) -> str:
        return RENDITION_FORMATS[self.format]

    @property
    def extension(self) -> str:
        return "jpg" if self.format == "jpeg" else self.format


@dataclass(frozen=True)
class TextLimits:
    """How much text one file may give the search index, and how long it may take."""

    max_chars: int = 200_000
    max_pdf_pages: int = 200


@dataclass(frozen=True)
class VideoSettings:
    """What the `thumbnails` stage makes of a video besides its poster frames' renditions."""

    poster_percents: tuple[int, ...] = (10, 50, 90)
    """Where the poster frames are taken, in percent of the duration; the middle one gives the
    video's standard renditions, every one a `poster-<percent>` rendition."""
    web_rendition_height: int = 0
    """Height of the H.264/AAC MP4 web rendition (`web_<height>p`); 0: none (the default)."""
    web_rendition_max_bytes: int = 200 * 1024 * 1024
    """A web rendition larger than this is not kept, and the stage fails for the file."""

    @property
    def web_rendition_name(self) -> str:
        return f"web_{self.web_rendition_height}p"

    @classmethod
    def parse(cls, posters: str, web_height: str, web_max_mb: str) -> VideoSettings:
        """From the settings' text; ValueError names what is wrong."""
        percents = tuple(int(p) for p in posters.replace(" ", "").split(",") if p)
        if not percents or any(not 0 <= p <= 100 for p in percents):
            raise ValueError(f"poster frames must be percents 0-100, comma-separated: {posters!r}")
        height = int(web_height or 0)
        if height < 0 or height % 2:
            raise ValueError(f"web rendition height must be 0 (off) or even: {web_height!r}")
        return cls(percents, height, int(float(web_max_mb) * 1024 * 1024))


def parse_renditions(text: str) -> tuple[RenditionSpec, ...]:
    """`name:longest-side:format:quality,...` (the THUMBNAIL_RENDITIONS setting)."""
    specs: list[RenditionSpec] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        fields = part.split(":")
        if len(fields) != 4:
            raise ValueError(f"rendition {part!r} is not name:longest-side:format:quality")
        name, side, fmt, quality = fields
        if not name.isidentifier():
            raise ValueError(f"rendition name {name!r} must be a plain word")
        if fmt not in RENDITION_FORMATS:
            raise ValueError(f"rendition format {fmt!r} is not one of {sorted(RENDITION_FORMATS)}")
        spec = RenditionSpec(name, int(side), fmt, int(quality))
        if not 1 <= spec.longest_side <= 16384 or not 1 <= spec.quality <= 100:
            raise ValueError(f"rendition {part!r}: side 1..16384 and quality 1..100")
        specs.append(spec)
    names = [s.name for s in specs]
    if not specs or len(set(names)) != len(names):
        raise ValueError(f"renditions {text!r}: at least one, with distinct names")
    return tuple(specs)


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def thumbnails_version(specs: tuple[RenditionSpec, ...], video: VideoSettings | None = None) -> str:
    """The renditions' digest; the video settings join it only when changed from their defaults,
    so turning on the web rendition makes thumbnails stale but the defaults keep today's."""
    version = f"{CODE_VERSIONS[Stage.THUMBNAILS]}-{_digest([asdict(s) for s in specs])}"
    if video is not None and video != VideoSettings():
        version = f"{version}-video-{_digest(asdict(video))}"
    return version


def search_index_version(limits: TextLimits) -> str:
    return f"{CODE_VERSIONS[Stage.SEARCH_INDEX]}-{_digest(asdict(limits))}"


def exif_version() -> str:
    return CODE_VERSIONS[Stage.EXIF_METADATA]


def scan_version(database_version: int | None, engine: str) -> str:
    """The signature database's version when clamd reports one (it changes with every update),
    else the engine's: a clamd with only local signatures reports no database version."""
    code = CODE_VERSIONS[Stage.VIRUS_SCAN]
    if database_version is not None:
        return f"{code}-db{database_version}"
    return f"{code}-engine-{engine}"


def database_version_of(scan_version_text: str | None) -> int | None:
    """The database version a recorded scan version was made with, if it has one."""
    if not scan_version_text or "-db" not in scan_version_text:
        return None
    try:
        return int(scan_version_text.rsplit("-db", 1)[1])
    except ValueError:
        return None
