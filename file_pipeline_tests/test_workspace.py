"""`dagster dev` on workspace.yaml, against the real stack, through its GraphQL API: the UI shows
the jobs, sensors and assets; a launched upload run succeeds and the daemon's sensor then launches
the processing run (the daemon path, end to end)."""

import time
from pathlib import Path

import dagster as dg
import pytest

from file_pipeline_tests.conftest import DagsterDev
from file_pipeline_tests.helpers import LINEAGE_ASSETS, REPOSITORY_QUERY, graphql, run_upload

SAMPLES = Path(__file__).resolve().parents[1] / "file_pipeline" / "samples"

pytestmark = pytest.mark.stack


def test_ui_shows_the_job_sensor_and_assets(dagster_dev) -> None:
    result = graphql(dagster_dev.url, REPOSITORY_QUERY)
    (repo,) = result["repositoriesOrError"]["nodes"]
    assert repo["location"]["name"] == "file_pipeline"
    jobs = {job["name"] for job in repo["jobs"]}
    assert {"upload_files", "process_file_events"} <= jobs
    sensors = {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]}
    assert sensors["file_events_sensor"] == "RUNNING"
    assets = {"/".join(a["assetKey"]["path"]) for a in repo["assetNodes"]}
    assert set(LINEAGE_ASSETS) <= assets


def test_run_launched_through_graphql_is_processed_by_the_daemon_sensor(
    dagster_dev,
    instance,
    postgres,
) -> None:
    run_id = dagster_dev.client.submit_job_execution(
        "upload_files",
        run_config={"ops": {"uploaded_files": {"config": {"uploaded_by": "graphql"}}}},
    )
    deadline = time.monotonic() + 180
    status = None
    while time.monotonic() < deadline:
        status = dagster_dev.client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS"

    with postgres.connection() as conn:
        file_ids = [
            r[0] for r in conn.execute("SELECT id FROM files WHERE upload_run_id = %s", (run_id,))
        ]
    samples = [p for p in SAMPLES.iterdir() if p.is_file()]
    assert len(file_ids) == len(samples) == 7, "the default paths are the seven sample files"

    deadline = time.monotonic() + 180
    done: list[str] = []
    while time.monotonic() < deadline:
        with postgres.connection() as conn:
            done = [
                r[0]
                for r in conn.execute(
                    "SELECT file_id FROM processing_results"
                    " WHERE stage = 'notifications' AND file_id = ANY(%s)",
                    (file_ids,),
                )
            ]
        if len(done) == len(file_ids):
            break
        time.sleep(1)
    assert sorted(done) == sorted(file_ids), "the daemon's sensor launched the processing run"
    processed_by = None
    while time.monotonic() < deadline and processed_by is None:
        for run in instance.get_runs(dg.RunsFilter(job_name="process_file_events")):
            if run.status == dg.DagsterRunStatus.SUCCESS and run.tags.get("dagster/sensor_name"):
                processed_by = run
        time.sleep(1)
    assert processed_by is not None, "a sensor-launched process_file_events run succeeded"
    assert processed_by.tags["dagster/sensor_name"] == "file_events_sensor"


def test_file_statistics_is_materialized_after_processing_by_automation(
    dagster_dev: DagsterDev,
    instance: dg.DagsterInstance,
    definitions: dg.Definitions,
    tmp_path: Path,
) -> None:
    """`file_statistics` is eager: after a processing run, the daemon's automation sensor
    materializes it, with no schedule and no click."""
    started = time.time()
    (tmp_path / "stats.txt").write_text("a file to count")
    upload = run_upload(definitions, instance, [tmp_path], uploaded_by="automation")
    assert upload.success
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        latest = instance.get_latest_materialization_event(dg.AssetKey("file_statistics"))
        if latest is not None and latest.timestamp > started:
            run = instance.get_run_by_id(latest.run_id)
            if run is not None and "dagster/sensor_name" in run.tags:
                break
        time.sleep(2)
    else:
        raise AssertionError("file_statistics was not materialized by the automation sensor")
    assert latest.asset_materialization is not None
    metadata = latest.asset_materialization.metadata
    assert metadata["files"].value >= 1 and "latency_p50_seconds" in metadata
