"""Videos for the tests, made with ffmpeg's own test sources (`testsrc2`, `sine`): no downloads."""

from __future__ import annotations

import subprocess
from pathlib import Path

CODECS = {
    "mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "mov": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "mkv": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "webm": ["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "300k", "-c:a", "libvorbis"],
    "avi": ["-c:v", "mpeg4", "-q:v", "8", "-c:a", "mp3"],
}


def make_video(
    path: Path,
    *,
    seconds: float = 2.0,
    size: tuple[int, int] = (320, 240),
    rate: int = 25,
    audio: bool = True,
    rotate: int = 0,
    metadata: dict[str, str] | None = None,
) -> Path:
    """A video of `testsrc2` (and a sine tone) in the container `path`'s suffix names.

    `rotate` is the display rotation written in the container (as a phone does for portrait
    video); `metadata` becomes container tags (`creation_time`, `location`, ...).
    """
    container = path.suffix.lstrip(".")
    width, height = size
    command = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={width}x{height}:rate={rate}:duration={seconds}",
    ]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    command += CODECS[container]
    if container == "mov" and metadata:
        command += ["-movflags", "use_metadata_tags"]
    for key, value in (metadata or {}).items():
        command += ["-metadata", f"{key}={value}"]
    target = path if not rotate else path.with_name(f"unrotated-{path.name}")
    subprocess.run([*command, str(target)], check=True, stdin=subprocess.DEVNULL)
    if rotate:
        # ffmpeg 5.1 turns the legacy `rotate` tag into the display matrix phones write.
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-i",
                str(target),
                "-c",
                "copy",
                "-map_metadata",
                "0",
                "-metadata:s:v:0",
                f"rotate={rotate}",
                str(path),
            ],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        target.unlink()
    return path
