"""Videos read with ffmpeg: metadata, upright poster frames, the optional web rendition and its
budgets, and every hostile or broken file a typed failure of that file (never a network fetch,
never an exception out of `derive`). The videos are made here with ffmpeg's test sources."""

from __future__ import annotations

import io
import random
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from file_pipeline import settings
from file_pipeline.processing.applicability import VIDEO_TYPES, is_video, not_applicable
from file_pipeline.processing.derive import DeriveRequest, Product, derive
from file_pipeline.processing.versions import (
    TextLimits,
    VideoSettings,
    parse_renditions,
    thumbnails_version,
)
from file_pipeline.processing.video import (
    DEMUXERS,
    VideoProcessingError,
    poster_frames,
    probe,
    video_info,
)
from file_pipeline.states import Outcome, Stage
from file_pipeline_tests.videos import make_video

RENDITIONS = parse_renditions(settings.DEFAULT_RENDITIONS)
ALL = frozenset({Stage.EXIF_METADATA, Stage.THUMBNAILS, Stage.SEARCH_INDEX})
PHONE_TAGS = {
    "creation_time": "2026-05-01T10:20:30Z",
    "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15",
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {
        "mp4": make_video(folder / "clip.mp4", size=(640, 360), rate=30),
        "phone": make_video(folder / "phone.mov", size=(320, 240), metadata=PHONE_TAGS),
        "portrait": make_video(folder / "portrait.mp4", size=(320, 240), rotate=90),
        "webm": make_video(folder / "screen.webm", size=(320, 240), audio=False),
        "avi": make_video(folder / "old.avi", size=(320, 240)),
        "mkv": make_video(folder / "film.mkv", size=(320, 240)),
    }


def _derive(
    path: Path,
    content_type: str = "video/mp4",
    *,
    video: VideoSettings | None = None,
    budget: float = 60,
) -> dict[Stage, Product]:
    return derive(
        DeriveRequest(
            file_id="f",
            path=str(path),
            content_type=content_type,
            filename=path.name,
            stages=ALL,
            renditions=RENDITIONS,
            text_limits=TextLimits(),
            time_budget_seconds=budget,
            video=video or VideoSettings(),
        )
    )


def test_probe_reads_duration_codec_size_rate_and_audio(videos: dict[str, Path]) -> None:
    info = probe(videos["mp4"], "video/mp4", timeout=30)
    assert (info.container, info.codec, info.audio_codec) == ("mov", "h264", "aac")
    assert (info.width, info.height, info.rotation) == (640, 360, 0)
    assert info.frame_rate == 30.0
    assert info.duration_seconds == pytest.approx(2.0, abs=0.1)


def test_a_phones_creation_time_camera_and_location_become_exif_columns(
    videos: dict[str, Path],
) -> None:
    exif = probe(videos["phone"], "video/quicktime", timeout=30).as_exif()
    assert (exif.camera_make, exif.camera_model) == ("Apple", "iPhone 15")
    assert exif.taken_at == datetime(2026, 5, 1, 10, 20, 30)
    assert (exif.gps_latitude, exif.gps_longitude) == (48.8584, 2.2945)
    assert exif.tags["video"]["video_codec"] == "h264"


def test_rotation_gives_the_exif_orientation_and_upright_poster_frames(
    videos: dict[str, Path],
) -> None:
    info = probe(videos["portrait"], "video/mp4", timeout=30)
    # ffmpeg 5.1 writes the `rotate=90` tag as a display matrix of 90 degrees counter-clockwise.
    assert info.rotation == 270 and info.as_exif().orientation == 8
    assert info.display_size == (240, 320)
    frames = poster_frames(videos["portrait"], "video/mp4", info, (10, 50, 90), timeout=30)
    assert list(frames) == [10, 50, 90]
    assert {frame.size for frame in frames.values()} == {(240, 320)}


@pytest.mark.parametrize(
    ("name", "content_type", "codec"),
    [
        ("webm", "video/webm", "vp8"),
        ("avi", "video/x-msvideo", "mpeg4"),
        ("mkv", "video/x-matroska", "h264"),
    ],
)
def test_webm_avi_and_matroska_are_read_too(
    videos: dict[str, Path], name: str, content_type: str, codec: str
) -> None:
    products = _derive(videos[name], content_type)
    assert products[Stage.EXIF_METADATA].outcome is Outcome.DONE
    assert products[Stage.EXIF_METADATA].exif.tags["video"]["video_codec"] == codec
    assert products[Stage.THUMBNAILS].outcome is Outcome.DONE


def test_derive_makes_the_renditions_and_three_poster_frames(videos: dict[str, Path]) -> None:
    products = _derive(videos["mp4"])
    exif, thumbnails = products[Stage.EXIF_METADATA], products[Stage.THUMBNAILS]
    assert exif.outcome is Outcome.DONE and exif.detail == "2 s h264 640x360 at 30 fps"
    assert thumbnails.outcome is Outcome.DONE
    made = {r.name: r for r in thumbnails.renditions}
    assert list(made) == ["thumbnail", "medium", "preview", "poster_10", "poster_50", "poster_90"]
    assert (made["preview"].width, made["preview"].height) == (640, 360), "never upscaled"
    assert (made["poster_10"].width, made["poster_10"].height) == (250, 141)
    assert made["poster_10"].data != made["poster_90"].data, "frames from different moments"
    assert Image.open(io.BytesIO(made["poster_50"].data)).format == "WEBP"
    assert thumbnails.placeholder
    assert products[Stage.SEARCH_INDEX].detail == "filename only"


def test_the_web_rendition_is_off_by_default_and_h264_720p_at_most_when_on(
    tmp_path: Path, videos: dict[str, Path]
) -> None:
    assert not any(
        r.content_type == "video/mp4" for r in _derive(videos["mp4"])[Stage.THUMBNAILS].renditions
    )
    on = VideoSettings(web_rendition_height=240)
    thumbnails = _derive(videos["mp4"], video=on)[Stage.THUMBNAILS]
    web = next(r for r in thumbnails.renditions if r.content_type == "video/mp4")
    assert web.name == "web_240p" and (web.width, web.height) == (426, 240)
    rendition = tmp_path / "web.mp4"
    rendition.write_bytes(web.data)
    info = probe(rendition, "video/mp4", timeout=30)
    assert (info.codec, info.audio_codec, info.height) == ("h264", "aac", 240)


def test_a_web_rendition_over_its_size_budget_fails_the_stage(videos: dict[str, Path]) -> None:
    tight = VideoSettings(web_rendition_height=240, web_rendition_max_bytes=10_000)
    products = _derive(videos["mp4"], video=tight)
    assert products[Stage.THUMBNAILS].outcome is Outcome.FAILED
    assert "over its budget of 10000 bytes" in products[Stage.THUMBNAILS].detail
    assert products[Stage.EXIF_METADATA].outcome is Outcome.DONE, "metadata is kept"


def test_a_video_over_the_time_budget_fails_with_the_reason(videos: dict[str, Path]) -> None:
    products = _derive(videos["mp4"], budget=0.001)
    thumbnails = products[Stage.THUMBNAILS]
    assert thumbnails.outcome is Outcome.FAILED
    assert "time budget" in thumbnails.detail
    assert thumbnails.error_type.endswith("VideoProcessingError")


def test_without_ffmpeg_installed_the_file_fails_saying_so(
    videos: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    products = _derive(videos["mp4"])
    assert "ffprobe is not installed (Debian package ffmpeg)" in products[Stage.THUMBNAILS].detail


def test_a_playlist_posing_as_an_mp4_is_never_fetched(tmp_path: Path) -> None:
    """An HLS playlist or concat script named .mp4 must not make ffmpeg open a URL or a file."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    connections: list[object] = []

    def accept() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                connections.append(listener.accept())
            except TimeoutError:
                continue

    watcher = threading.Thread(target=accept)
    watcher.start()
    hls = tmp_path / "playlist.mp4"
    hls.write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nhttp://127.0.0.1:{port}/a.ts\n"
        "#EXT-X-ENDLIST\n"
    )
    concat = tmp_path / "concat.mp4"
    concat.write_text("ffconcat version 1.0\nfile /etc/passwd\n")
    try:
        for path in (hls, concat):
            products = _derive(path)
            for stage in (Stage.EXIF_METADATA, Stage.THUMBNAILS):
                assert products[stage].outcome is Outcome.FAILED
    finally:
        watcher.join()
        listener.close()
    assert connections == []


def test_damaged_videos_are_each_a_failure_of_that_file(
    tmp_path: Path, videos: dict[str, Path]
) -> None:
    """Truncated, bit-flipped and garbage variants (fixed seed): `derive` never raises, every
    outcome is done or a failure with a reason, within the budget."""
    rng = random.Random(20261125)
    original = videos["mp4"].read_bytes()
    variants = {
        "empty": b"",
        "header only": original[:64],
        "truncated half": original[: len(original) // 2],
        "garbage": rng.randbytes(50_000),
    }
    for i in range(16):
        damaged = bytearray(original)
        for _ in range(rng.choice((1, 10, 200))):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        variants[f"flipped {i}"] = bytes(damaged)
    outcomes: dict[str, set[Outcome]] = {}
    for name, data in variants.items():
        path = tmp_path / "damaged.mp4"
        path.write_bytes(data)
        started = time.monotonic()
        products = _derive(path, budget=20)
        assert time.monotonic() - started < 25, name
        for stage in (Stage.EXIF_METADATA, Stage.THUMBNAILS):
            product = products[stage]
            assert product.outcome in (Outcome.DONE, Outcome.FAILED), (name, product)
            if product.outcome is Outcome.FAILED:
                assert product.detail and product.error_type, (name, product)
        outcomes[name] = {products[s].outcome for s in (Stage.EXIF_METADATA, Stage.THUMBNAILS)}
    for name in ("empty", "header only", "garbage"):
        assert outcomes[name] == {Outcome.FAILED}, name


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ({}, "no video stream"),
        ({"streams": [{"codec_type": "audio"}]}, "no video stream"),
        (
            {"streams": [{"codec_type": "video", "disposition": {"attached_pic": 1}}]},
            "no video stream",
        ),
        ({"streams": [{"codec_type": "video", "width": 0, "height": 9}]}, "no frame size"),
        (
            {
                "streams": [{"codec_type": "video", "width": 9, "height": 9}],
                "format": {"duration": "nan"},
            },
            "no usable duration",
        ),
        (
            {
                "streams": [{"codec_type": "video", "width": 99999999, "height": 9}],
                "format": {"duration": "1"},
            },
            "no frame size",
        ),
    ],
)
def test_unusable_reports_are_refused(report: dict[str, object], reason: str) -> None:
    with pytest.raises(VideoProcessingError, match=reason):
        video_info(report)


def test_odd_values_in_a_report_are_normalised_not_stored() -> None:
    info = video_info(
        {
            "streams": [
                {
                    "codec_type": "video",
                    "codec_name": "h264\x00",
                    "width": 100,
                    "height": 50,
                    "avg_frame_rate": "0/0",
                    "r_frame_rate": "1e400/1",
                    "side_data_list": [{"rotation": -90}],
                }
            ],
            "format": {
                "duration": "12.5",
                "bit_rate": "1e30",
                "tags": {"creation_time": "not a date", "location": "+999+999/"},
            },
        }
    )
    assert info.frame_rate is None and info.bit_rate is None
    assert info.created_at is None and info.latitude is None
    assert info.rotation == 90 and info.as_exif().orientation == 6
    assert info.codec == "h264"


def test_settings_parse_and_only_changed_settings_change_the_version() -> None:
    assert VideoSettings.parse("10,50,90", "0", "200") == VideoSettings()
    assert VideoSettings.parse("25", "720", "50").web_rendition_name == "web_720p"
    for posters, height in (("", "0"), ("150", "0"), ("10", "721"), ("10", "-2")):
        with pytest.raises(ValueError):
            VideoSettings.parse(posters, height, "200")
    assert thumbnails_version(RENDITIONS, VideoSettings()) == thumbnails_version(RENDITIONS)
    assert thumbnails_version(RENDITIONS, VideoSettings(web_rendition_height=720)) != (
        thumbnails_version(RENDITIONS)
    )


def test_every_video_type_has_a_demuxer_and_both_derived_stages_apply() -> None:
    assert set(DEMUXERS) == set(VIDEO_TYPES)
    for content_type in VIDEO_TYPES:
        assert is_video(content_type)
        assert not_applicable(Stage.EXIF_METADATA, content_type, 10**9) is None
        assert not_applicable(Stage.THUMBNAILS, content_type, 10**9) is None
    assert "larger than" in (not_applicable(Stage.THUMBNAILS, "video/mp4", 3 * 2**30) or "")
