"""Decoding on worker processes: one file over its time or memory budget fails alone, and the
files after it are decoded by a fresh worker. Real processes, no services."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from file_pipeline.processing.products import DeriveRequest, Product
from file_pipeline.processing.versions import TextLimits, parse_renditions
from file_pipeline.processing.workers import DeriveWorkers
from file_pipeline.states import Outcome, Stage

RENDITIONS = parse_renditions("thumbnail:250:webp:80,preview:1440:jpeg:85")
IMAGE_STAGES = frozenset({Stage.EXIF_METADATA, Stage.THUMBNAILS})


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("images")
    huge = folder / "huge.png"
    Image.new("RGB", (7000, 7000), (200, 10, 10)).save(huge)  # 49 Mpx, 147 MB decoded
    small = folder / "small.png"
    Image.new("RGB", (300, 200), (1, 2, 3)).save(small)
    return {"huge": huge, "small": small}


def _request(path: Path, budget: float) -> DeriveRequest:
    return DeriveRequest(
        file_id=path.stem,
        path=str(path),
        content_type="image/png",
        filename=path.name,
        stages=IMAGE_STAGES,
        renditions=RENDITIONS,
        text_limits=TextLimits(),
        time_budget_seconds=budget,
    )


def _derive(
    workers: DeriveWorkers, requests: list[DeriveRequest]
) -> dict[str, dict[Stage, Product]]:
    return {request.file_id: products for request, products in workers.derive_all(requests)}


def test_a_file_over_its_time_budget_is_stopped_and_the_next_one_is_decoded(
    images: dict[str, Path],
) -> None:
    with DeriveWorkers(1, 0, timeout_grace_seconds=0) as workers:
        results = _derive(workers, [_request(images["huge"], 0.05), _request(images["small"], 30)])
    for stage in IMAGE_STAGES:
        stopped = results["huge"][stage]
        assert stopped.outcome is Outcome.FAILED and stopped.error_type == "TimeoutError"
        assert stopped.detail == "over the time budget of 0.05 s: stopped"
        assert results["small"][stage].outcome is Outcome.DONE, "a fresh worker took over"


def test_a_file_over_the_memory_budget_fails_that_stage_alone(images: dict[str, Path]) -> None:
    with DeriveWorkers(1, 400 * 1024 * 1024) as workers:
        results = _derive(workers, [_request(images["huge"], 60), _request(images["small"], 60)])
    renditions = results["huge"][Stage.THUMBNAILS]
    assert renditions.outcome is Outcome.FAILED and renditions.error_type == "MemoryError"
    assert renditions.detail == "over the memory budget of its worker"
    exif = results["huge"][Stage.EXIF_METADATA]
    assert (exif.outcome, exif.detail) == (Outcome.DONE, "7000x7000"), "reading the header fits"
    assert results["small"][Stage.THUMBNAILS].outcome is Outcome.DONE


def test_the_same_files_in_the_calling_process_when_isolation_is_off(
    images: dict[str, Path],
) -> None:
    with DeriveWorkers(0, 0) as workers:
        results = _derive(workers, [_request(images["small"], 60)])
    assert results["small"][Stage.THUMBNAILS].detail == "thumbnail 250x167, preview 300x200"


def test_a_file_scheduled_ahead_is_decoded_once_and_its_result_taken(
    images: dict[str, Path], tmp_path: Path
) -> None:
    """The scan hands a clean file over early; `derive_all` takes that decode instead of
    decoding it again. The file is removed once the early decode is done, so a second decode
    would fail: only the early result can make the outcome DONE."""
    copy = tmp_path / "small.png"
    copy.write_bytes(images["small"].read_bytes())
    request = _request(copy, 30)
    with DeriveWorkers(1, 0) as workers:
        assert workers.schedule_ahead(request)
        assert workers.schedule_ahead(request), "handing it over again is the same decode"
        _, early = workers._ahead[request.file_id]
        early.result(timeout=30)
        copy.unlink()
        results = _derive(workers, [request])
    assert results["small"][Stage.THUMBNAILS].outcome is Outcome.DONE


def test_a_file_scheduled_ahead_for_other_stages_is_decoded_again(
    images: dict[str, Path],
) -> None:
    exif_only = replace(_request(images["small"], 30), stages=frozenset({Stage.EXIF_METADATA}))
    with DeriveWorkers(1, 0) as workers:
        assert workers.schedule_ahead(exif_only)
        results = _derive(workers, [_request(images["small"], 30)])
    assert set(results["small"]) == IMAGE_STAGES
    assert results["small"][Stage.THUMBNAILS].outcome is Outcome.DONE


def test_nothing_is_scheduled_ahead_without_worker_processes(images: dict[str, Path]) -> None:
    with DeriveWorkers(0, 0) as workers:
        assert not workers.schedule_ahead(_request(images["small"], 30))
