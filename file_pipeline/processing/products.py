"""What a decoding worker is asked to do for one file and what it gives back: plain, picklable
data and nothing else, so that the run's process (which plans, uploads and records) and the code
server can hold requests and results without importing a single decoder. Pillow, pillow-heif,
pypdf and the sensitive-data validators load only in the worker processes (`workers`), which
preload them once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from file_pipeline.processing import normalize
from file_pipeline.processing.versions import RenditionSpec, TextLimits, VideoSettings
from file_pipeline.states import Outcome, SensitiveKind, Stage


@dataclass(frozen=True)
class DeriveRequest:
    file_id: str
    path: str
    """The file's bytes, fetched once for the run (the spool)."""
    content_type: str
    filename: str
    stages: frozenset[Stage]
    renditions: tuple[RenditionSpec, ...]
    text_limits: TextLimits
    time_budget_seconds: float
    video: VideoSettings = field(default_factory=VideoSettings)


@dataclass(frozen=True)
class ExifResult:
    width: int
    height: int
    image_format: str
    camera_make: str | None = None
    camera_model: str | None = None
    taken_at: datetime | None = None
    orientation: int | None = None
    gps_latitude: float | None = None
    gps_longitude: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    """Every tag, already normalised to storable JSON."""

    def tags_json(self) -> str:
        return normalize.json_dumps_storable(self.tags)


@dataclass(frozen=True)
class Rendition:
    name: str
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


@dataclass(frozen=True)
class SensitiveDataScan:
    """How many of each kind of sensitive data a text holds.

    `counts` has only the kinds found (count > 0), in `SensitiveKind` order. `partial` says why
    the scan stopped before the end (the character cap or the time budget), in which case the
    counts are a lower bound.
    """

    counts: dict[SensitiveKind, int]
    partial: str | None = None

    def as_json(self) -> dict[str, int]:
        """The counts keyed by kind name, e.g. {"email": 2}, for a jsonb column."""
        return {kind.value: count for kind, count in self.counts.items()}

    @property
    def total(self) -> int:
        """All findings, every kind together."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class Product:
    """One derived stage's result for one file."""

    outcome: Outcome
    detail: str
    error_type: str | None = None
    exif: ExifResult | None = None
    renditions: tuple[Rendition, ...] = field(default=())
    placeholder: str | None = None
    """ThumbHash (base64) of the picture the renditions were made from."""
    text: str | None = None
    sensitive_data: SensitiveDataScan | None = None
