"""How processing runs use the machine and what they make: renditions, worker processes, the
per-file time and memory budget, the spool, and what happens to files clamd cannot scan."""

from __future__ import annotations

import threading

import dagster as dg
from pydantic import Field, PrivateAttr

from file_pipeline.processing.derived import DerivedSettings
from file_pipeline.processing.spool import Spool, spool_root
from file_pipeline.processing.versions import (
    RenditionSpec,
    TextLimits,
    VideoSettings,
    parse_renditions,
)
from file_pipeline.processing.virus_scan import ScanSettings, UnscannablePolicy, version_of
from file_pipeline.processing.workers import DeriveWorkers, default_workers
from file_pipeline.states import Stage

MIB = 1024 * 1024


class ProcessingResource(dg.ConfigurableResource):
    """Settings of the processing stages (THUMBNAIL_RENDITIONS, PROCESSING_WORKERS, ...)."""

    renditions: str = Field(
        default="thumbnail:250:webp:80,preview:1440:jpeg:85",
        description="Renditions of clean images as name:longest-side:format:quality, "
        "comma-separated. Changing them makes existing thumbnails stale.",
    )
    video_poster_frames: str = Field(
        default="10,50,90",
        description="Where a video's poster frames are taken, in percent of its duration.",
    )
    video_web_rendition_height: int = Field(
        default=0,
        description="Height of an H.264 MP4 web rendition of each video (e.g. 720); 0: none. "
        "Changing it makes existing thumbnails stale.",
    )
    video_web_rendition_max_mb: int = Field(
        default=200, description="A larger web rendition is not kept (the stage fails)."
    )
    workers: int = Field(
        default=0, description="Worker processes decoding files in a run (0: one per core)."
    )
    time_budget_seconds: int = Field(
        default=60,
        description="Wall time one file's decoding and text extraction may take; a file over "
        "it fails alone (its worker is replaced).",
    )
    memory_budget_mb: int = Field(
        default=2048, description="Address space of each decoding worker, in MiB."
    )
    spool_dir: str = Field(
        default="", description="Where a run keeps the blobs it fetched (empty: system temp)."
    )
    spool_max_file_mb: int = Field(
        default=64, description="Largest blob kept in the spool; larger ones are streamed."
    )
    unscannable: str = Field(
        default=UnscannablePolicy.FAILED.value,
        description="A file clamd could not fully scan (a limit exceeded, encrypted content) is "
        "`failed` (kept where it is, never processed, never handed out) or `quarantine`d "
        "like an infected file. Never clean.",
    )
    scan_concurrency: int = Field(default=4, description="Files streamed to clamd at once.")

    _workers: DeriveWorkers | None = PrivateAttr(default=None)
    _workers_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def derive_workers(self) -> DeriveWorkers:
        """The run's decoding workers: one pool for the whole run, created on first use and
        closed when the run's resources are torn down."""
        with self._workers_lock:
            if self._workers is None:
                derived = self.derived_settings()
                self._workers = DeriveWorkers(derived.workers, derived.memory_limit_bytes)
            return self._workers

    def start_workers(self) -> None:
        """Start the decoding workers in the background, so that they are up by the time the
        derived stages need them (a one-file run would otherwise wait for them)."""
        threading.Thread(
            target=lambda: self.derive_workers().start(), name="start-derive-workers", daemon=True
        ).start()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        with self._workers_lock:
            if self._workers is not None:
                self._workers.close()
                self._workers = None

    def rendition_specs(self) -> tuple[RenditionSpec, ...]:
        return parse_renditions(self.renditions)

    def video_settings(self) -> VideoSettings:
        return VideoSettings.parse(
            self.video_poster_frames,
            str(self.video_web_rendition_height),
            str(self.video_web_rendition_max_mb),
        )

    def spool(self, run_id: str) -> Spool:
        return Spool(spool_root(self.spool_dir), run_id)

    def derived_settings(self) -> DerivedSettings:
        return DerivedSettings(
            renditions=self.rendition_specs(),
            text_limits=TextLimits(),
            time_budget_seconds=self.time_budget_seconds,
            workers=self.workers or default_workers(),
            memory_limit_bytes=self.memory_budget_mb * MIB,
            video=self.video_settings(),
        )

    def current_versions(self, scanner_version: str | None) -> dict[Stage, str | None]:
        """Today's version of each stage; the scan's comes from clamd's version line (None
        when clamd cannot be asked: scans are then never counted stale)."""
        derived = self.derived_settings()
        versions: dict[Stage, str | None] = {
            stage: derived.version(stage) for stage in Stage.derived()
        }
        versions[Stage.VIRUS_SCAN] = version_of(scanner_version) if scanner_version else None
        versions[Stage.NOTIFICATIONS] = None
        return versions

    def scan_settings(self, max_scan_bytes: int) -> ScanSettings:
        return ScanSettings(
            max_scan_bytes=max_scan_bytes,
            unscannable=UnscannablePolicy(self.unscannable),
            spool_max_file_bytes=self.spool_max_file_mb * MIB,
            concurrency=self.scan_concurrency,
        )
