"""The Dagster UI in a real browser (Debian's Chromium driven by Playwright): launch `upload_files`
from the Launchpad with its default config, see it succeed, see the processing run the sensor
launched, and look at the lineage graph and the statistics; then the sample video's poster
frames in the MinIO console. Screenshots are saved for the README (FILE_PIPELINE_SCREENSHOTS,
default `screenshots/`)."""

import contextlib
import os
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import pytest
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from file_pipeline import settings
from file_pipeline.db import files as file_rows
from file_pipeline_tests.helpers import LINEAGE_ASSETS

pytestmark = pytest.mark.stack

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(os.environ.get("FILE_PIPELINE_SCREENSHOTS", PROJECT_ROOT / "screenshots"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Debian's chromium is not installed: `./dev test` installs it")
    return path


def _dismiss_welcome(page: Page) -> None:
    """Dagster's community dialog shows on a first visit, after a delay that grows with the
    machine's load, and covers the page: whenever it is up before an action, Playwright clicks
    its Skip first."""
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda _dialog: page.get_by_role("button", name="Skip").click(),
    )


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_launchpad_run_sensor_run_lineage_and_statistics_in_a_browser(
    dagster_dev,
    instance,
    definitions,
    postgres,
    storage,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1700, "height": 1000})

            page.goto(
                f"{dagster_dev.url}/locations/file_pipeline/jobs/upload_files/playground",
                wait_until="networkidle",
            )
            _dismiss_welcome(page)
            page.get_by_text("No errors").wait_for(timeout=30000)  # default config is valid
            page.screenshot(path=SCREENSHOTS / "launchpad.png")
            page.get_by_role("button", name="Launch Run").click()
            page.wait_for_url("**/runs/**", timeout=60000)
            run_id = page.url.rstrip("/").split("/runs/")[1].split("?")[0]

            upload = _wait_for(
                lambda: (r := instance.get_run_by_id(run_id)) and r.is_finished and r,
                240,
                "the upload run to finish",
            )
            assert upload.status == dg.DagsterRunStatus.SUCCESS
            page.reload(wait_until="networkidle")
            page.get_by_text("Success").first.wait_for(timeout=30000)
            page.screenshot(path=SCREENSHOTS / "upload-run.png")

            def processed_by_sensor() -> dg.DagsterRun | None:
                for run in instance.get_runs(dg.RunsFilter(job_name="process_file_events")):
                    if run_id in run.tags.get("file_pipeline/upload_runs", "") and (
                        run.status == dg.DagsterRunStatus.SUCCESS
                    ):
                        return run
                return None

            processing = _wait_for(processed_by_sensor, 240, "the sensor's processing run")
            assert processing.tags["dagster/sensor_name"] == "file_events_sensor"
            page.goto(f"{dagster_dev.url}/runs", wait_until="networkidle")
            page.get_by_text("process_file_events").first.wait_for(timeout=30000)
            page.get_by_text("upload_files").first.wait_for(timeout=30000)
            page.screenshot(path=SCREENSHOTS / "runs.png")

            page.goto(
                f"{dagster_dev.url}/assets/file_statistics"
                "?view=lineage&lineageScope=upstream&lineageDepth=10",
                wait_until="networkidle",
            )
            for name in LINEAGE_ASSETS:
                page.get_by_text(name, exact=True).first.wait_for(timeout=30000)
            page.wait_for_timeout(3000)
            page.screenshot(path=SCREENSHOTS / "lineage.png")

            stats = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, asset_selection=[dg.AssetKey("file_statistics")]
            )
            assert stats.success
            page.goto(f"{dagster_dev.url}/assets/file_statistics", wait_until="networkidle")
            page.get_by_text("latency_p50_seconds").first.wait_for(timeout=30000)
            page.get_by_text("files_infected").first.wait_for(timeout=30000)
            page.wait_for_timeout(2000)
            page.screenshot(path=SCREENSHOTS / "statistics.png", full_page=True)

            # The operator's reprocess job: its typed config is valid as offered, and says
            # what each field means.
            page.goto(
                f"{dagster_dev.url}/locations/file_pipeline/jobs/reprocess_files/playground",
                wait_until="networkidle",
            )
            page.get_by_text("No errors").wait_for(timeout=30000)
            page.get_by_text("selection").first.wait_for(timeout=30000)
            page.wait_for_timeout(1000)
            page.screenshot(path=SCREENSHOTS / "reprocess-launchpad.png")

            with postgres.connection() as conn:
                (video,) = [
                    row["id"]
                    for row in file_rows.list_files(conn, "demo", 50, False)
                    if row["filename"] == "phone-video.mov"
                ]
            _show_poster_frames(page, storage.bucket, video)
        finally:
            browser.close()
    for name in (
        "launchpad",
        "upload-run",
        "runs",
        "lineage",
        "statistics",
        "reprocess-launchpad",
        "video-poster-frames",
        "video-poster-preview",
    ):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000


def _show_poster_frames(page: Page, bucket: str, file_id: str) -> None:
    """The MinIO console's object browser on the video's renditions, and one poster frame."""
    console = f"http://localhost:{settings.MINIO_CONSOLE_PORT}"
    page.goto(f"{console}/login", wait_until="networkidle")
    page.fill("#accessKey", settings.MINIO_ROOT_USER)
    page.fill("#secretKey", settings.MINIO_ROOT_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/browser**", timeout=30000)
    prefix = quote(f"thumbnails/{file_id}/", safe="")
    page.goto(f"{console}/browser/{bucket}/{prefix}", wait_until="networkidle")
    with contextlib.suppress(PlaywrightTimeoutError):  # a first visit's licence notice
        page.get_by_role("button", name="Acknowledge").click(timeout=3000)
    for percent in (10, 50, 90):
        page.get_by_text(f"poster_{percent}.webp", exact=True).wait_for(timeout=30000)
    page.get_by_text("poster_50.webp", exact=True).click()
    page.get_by_text("Preview", exact=True).first.wait_for(timeout=30000)
    page.screenshot(path=SCREENSHOTS / "video-poster-frames.png")
    page.get_by_text("Preview", exact=True).first.click()
    page.locator("img[src*='preview=true']").first.wait_for(timeout=30000)
    page.wait_for_timeout(1500)
    page.screenshot(path=SCREENSHOTS / "video-poster-preview.png")
