"""Videos with Debian's ffmpeg: metadata from ffprobe (duration, codec, resolution, frame rate,
rotation, and the creation time, camera and location phones write), poster frames at fractions of
the duration, and an optional H.264 web rendition within a size and time budget. No Dagster here.

Every file is untrusted, and ffmpeg can read far more than local files: the demuxer is forced from
the type the upload's magic bytes gave (so a playlist or concat script posing as an MP4 is never
interpreted), only the `file` and `pipe` protocols are allowed (no network, no other files), and
each ffmpeg process runs with a time limit and inherits its worker's address-space limit.
Anything ffmpeg refuses, or a tool that is missing, is this file's `VideoProcessingError`.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from file_pipeline.errors import FilePipelineError
from file_pipeline.processing import normalize
from file_pipeline.processing.products import ExifResult
from file_pipeline.processing.versions import VideoSettings

DEMUXERS: dict[str, str] = {
    "video/mp4": "mov",
    "video/quicktime": "mov",
    "video/webm": "matroska",
    "video/x-matroska": "matroska",
    "video/x-msvideo": "avi",
}
"""The ffmpeg demuxer each detected video type is read with; other types are not read at all."""
PROTOCOLS = "file,pipe"
STDERR_TAIL = 300
MAX_POSTER_SIDE = 4096
"""Poster frames are scaled down to this inside ffmpeg (never up) before they reach Pillow."""
# Quicktime's ISO 6709 location, "+48.8584+002.2945+035.000/".
_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")
# Rotation to the EXIF orientation that shows the frame upright (clockwise display rotation).
_ORIENTATIONS = {0: 1, 90: 6, 180: 3, 270: 8}


class VideoProcessingError(FilePipelineError):
    """ffprobe or ffmpeg could not read this file, or it is past a budget."""


@dataclass(frozen=True)
class VideoInfo:
    """What ffprobe says of a video, already normalised for storage."""

    container: str
    duration_seconds: float
    codec: str
    width: int
    height: int
    frame_rate: float | None
    rotation: int
    """Clockwise rotation a player applies to show the video upright: 0, 90, 180 or 270."""
    audio_codec: str | None = None
    bit_rate: int | None = None
    created_at: datetime | None = None
    make: str | None = None
    model: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown, after the rotation."""
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height

    def as_exif(self) -> ExifResult:
        """The video's metadata in the shape `exif_metadata` stores for pictures."""
        summary = {
            "duration_seconds": self.duration_seconds,
            "video_codec": self.codec,
            "frame_rate": self.frame_rate,
            "rotation": self.rotation,
            "audio_codec": self.audio_codec,
            "bit_rate": self.bit_rate,
        }
        tags = normalize.storable_json({"video": summary, "container_tags": self.tags})
        return ExifResult(
            width=self.width,
            height=self.height,
            image_format=normalize.storable_text(f"{self.container}/{self.codec}", max_chars=32),
            camera_make=self.make,
            camera_model=self.model,
            taken_at=self.created_at,
            orientation=_ORIENTATIONS.get(self.rotation, 1),
            gps_latitude=self.latitude,
            gps_longitude=self.longitude,
            tags=tags if isinstance(tags, dict) else {},
        )


def tools_available() -> bool:
    return shutil.which("ffprobe") is not None and shutil.which("ffmpeg") is not None


def probe(path: Path, content_type: str, *, timeout: float) -> VideoInfo:
    """ffprobe's view of the file; VideoProcessingError if it has no readable video stream."""
    output = _run(
        [
            "ffprobe",
            "-v",
            "error",
            *_input_args(path, content_type),
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ],
        timeout=timeout,
        what="ffprobe",
    )
    try:
        report = json.loads(output)
    except ValueError as exc:
        raise VideoProcessingError(f"ffprobe gave no readable report: {exc}") from exc
    return video_info(report)


def video_info(report: dict[str, Any]) -> VideoInfo:
    """A VideoInfo from ffprobe's JSON (`-show_format -show_streams`); pure, for the tests."""
    streams = [s for s in report.get("streams") or [] if isinstance(s, dict)]
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover(s)), None)
    if video is None:
        raise VideoProcessingError("no video stream")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    container = report.get("format") if isinstance(report.get("format"), dict) else {}
    width = normalize.int_in_range(video.get("width"), 1, 65535)
    height = normalize.int_in_range(video.get("height"), 1, 65535)
    if width is None or height is None:
        raise VideoProcessingError("the video stream has no frame size")
    duration = _float(container.get("duration")) or _float(video.get("duration"))
    if duration is None or not 0 < duration < 10 * 24 * 3600:
        raise VideoProcessingError(f"no usable duration ({duration!r})")
    tags = {**_tags(container), **{f"video.{k}": v for k, v in _tags(video).items()}}
    latitude, longitude = _location(tags)
    return VideoInfo(
        container=_text(str(container.get("format_name") or "").split(",")[0], 24) or "unknown",
        duration_seconds=round(duration, 3),
        codec=_text(video.get("codec_name"), 24) or "unknown",
        width=width,
        height=height,
        frame_rate=_frame_rate(video.get("avg_frame_rate"))
        or _frame_rate(video.get("r_frame_rate")),
        rotation=_rotation(video),
        audio_codec=_text(audio.get("codec_name"), 24) if audio else None,
        bit_rate=normalize.int_in_range(_float(container.get("bit_rate")), 0, normalize.BIGINT_MAX),
        created_at=_created_at(tags.get("creation_time")),
        make=_text(tags.get("com.apple.quicktime.make") or tags.get("make"), 256),
        model=_text(tags.get("com.apple.quicktime.model") or tags.get("model"), 256),
        latitude=latitude,
        longitude=longitude,
        tags=tags,
    )


def poster_frames(
    path: Path, content_type: str, info: VideoInfo, percents: tuple[int, ...], *, timeout: float
) -> dict[int, Image.Image]:
    """One upright frame per percent of the duration, decoded by ffmpeg (rotation applied)."""
    frames: dict[int, Image.Image] = {}
    for percent in dict.fromkeys(percents):
        # Not past the last frame: seeking to the very end gives nothing.
        at = min(info.duration_seconds * percent / 100, max(info.duration_seconds - 0.1, 0.0))
        png = _run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-nostdin",
                "-ss",
                f"{at:.3f}",
                *_input_args(path, content_type),
                "-frames:v",
                "1",
                "-an",
                "-vf",
                f"scale='min(iw,{MAX_POSTER_SIDE})':'min(ih,{MAX_POSTER_SIDE})'"
                ":force_original_aspect_ratio=decrease",
                "-f",
                "image2pipe",
                "-c:v",
                "png",
                "pipe:1",
            ],
            timeout=timeout,
            what=f"ffmpeg (frame at {percent} %)",
            binary=True,
        )
        if not png:
            raise VideoProcessingError(f"no frame at {percent} % ({at:.2f} s)")
        frame = Image.open(io.BytesIO(png))
        frame.load()
        frames[percent] = frame
    return frames


def web_rendition(
    path: Path, content_type: str, settings: VideoSettings, *, timeout: float
) -> bytes:
    """The file as an H.264/AAC MP4 at most `web_rendition_height` high (never upscaled), ready
    to stream (moov first); VideoProcessingError past the size or time budget."""
    height = settings.web_rendition_height
    with tempfile.TemporaryDirectory(prefix="web-rendition-") as folder:
        target = Path(folder) / "web.mp4"
        _run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-nostdin",
                *_input_args(path, content_type),
                "-map",
                "0:v:0",
                "-map",
                "0:a:0?",
                "-vf",
                f"scale=-2:'min({height},ih)',format=yuv420p",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                "23",
                "-c:a",
                "aac",
                "-b:a",
                "128k",
                "-movflags",
                "+faststart",
                "-fs",
                str(settings.web_rendition_max_bytes + 1),
                "-f",
                "mp4",
                str(target),
            ],
            timeout=timeout,
            what="ffmpeg (web rendition)",
        )
        size = target.stat().st_size if target.exists() else 0
        if size > settings.web_rendition_max_bytes:
            raise VideoProcessingError(
                f"web rendition over its budget of {settings.web_rendition_max_bytes} bytes"
            )
        if size == 0:
            raise VideoProcessingError("ffmpeg wrote no web rendition")
        return target.read_bytes()


def _input_args(path: Path, content_type: str) -> list[str]:
    demuxer = DEMUXERS.get(content_type)
    if demuxer is None:
        raise VideoProcessingError(f"not a video type ffmpeg is allowed to read ({content_type})")
    return ["-protocol_whitelist", PROTOCOLS, "-f", demuxer, "-i", f"file:{path}"]


def _run(command: list[str], *, timeout: float, what: str, binary: bool = False) -> Any:
    if timeout <= 0:
        raise VideoProcessingError(f"over the time budget before {what}")
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise VideoProcessingError(
            f"{command[0]} is not installed (Debian package ffmpeg)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise VideoProcessingError(f"{what} over the time budget ({timeout:.0f} s)") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL:]
        raise VideoProcessingError(f"{what} failed (exit {done.returncode}): {message}")
    return done.stdout if binary else done.stdout.decode("utf-8", "replace")


def _is_cover(stream: dict[str, Any]) -> bool:
    """Cover art is a one-picture "video" stream."""
    disposition = stream.get("disposition")
    return isinstance(disposition, dict) and disposition.get("attached_pic") == 1


def _tags(section: dict[str, Any]) -> dict[str, str]:
    tags = section.get("tags")
    if not isinstance(tags, dict):
        return {}
    return {
        normalize.storable_text(str(k), max_chars=64): normalize.storable_text(
            str(v), max_chars=256
        )
        for k, v in list(tags.items())[:100]
    }


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text(value: Any, max_chars: int) -> str | None:
    if value is None:
        return None
    text = normalize.storable_text(str(value), max_chars=max_chars).strip()
    return text or None


def _frame_rate(value: Any) -> float | None:
    """ffprobe's "30000/1001" as 29.97."""
    if not isinstance(value, str) or "/" not in value:
        return None
    numerator, _, denominator = value.partition("/")
    top, bottom = _float(numerator), _float(denominator)
    if top is None or not bottom or top <= 0:
        return None
    rate = top / bottom
    return round(rate, 3) if 0 < rate < 10_000 else None


def _rotation(stream: dict[str, Any]) -> int:
    """The clockwise rotation a player applies: from the display matrix side data (ffmpeg 5+
    reports it counter-clockwise, e.g. -90), or the legacy `rotate` tag."""
    degrees = None
    for side in stream.get("side_data_list") or []:
        if isinstance(side, dict) and "rotation" in side:
            degrees = _float(side["rotation"])
            if degrees is not None:
                degrees = -degrees
            break
    if degrees is None:
        degrees = _float(_tags(stream).get("rotate"))
    if degrees is None:
        return 0
    return int(round(degrees / 90)) % 4 * 90


def _created_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:  # the column is the UTC wall clock, without a zone
        moment = moment.astimezone(UTC)
    return normalize.storable_datetime(moment) if 1900 <= moment.year <= 2200 else None


def _location(tags: dict[str, str]) -> tuple[float | None, float | None]:
    text = tags.get("com.apple.quicktime.location.ISO6709") or tags.get("location")
    match = _ISO6709.match(text or "")
    if match is None:
        return None, None
    latitude, longitude = float(match.group(1)), float(match.group(2))
    if abs(latitude) > 90 or abs(longitude) > 180:
        return None, None
    return latitude, longitude
