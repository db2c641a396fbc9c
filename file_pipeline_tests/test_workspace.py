"""`dagster dev` on workspace.yaml, against the real stack: the UI's GraphQL API shows the job,
sensor and assets; a run launched like the Launchpad does, with the default config, succeeds;
and the daemon's sensor then launches the processing run (the daemon path, end to end)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient

pytestmark = pytest.mark.stack

PROJECT_ROOT = Path(__file__).resolve().parents[1]

REPOSITORY_QUERY = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name }
        sensors { name sensorState { status } }
        assetNodes { assetKey { path } }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dagster_dev(pipeline_env, resources, tmp_path_factory):  # noqa: ANN001, ANN201
    port = _free_port()
    log = tmp_path_factory.mktemp("dagster_dev") / "dagster-dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dagster")),
                "dev",
                "-w",
                str(PROJECT_ROOT / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=PROJECT_ROOT,
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    deadline = time.monotonic() + 120
    while True:
        try:
            client._execute(REPOSITORY_QUERY)
            break
        except Exception as exc:  # noqa: BLE001 - not serving yet
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                tail = log.read_text()[-3000:]
                raise AssertionError(f"dagster dev did not come up: {tail}") from exc
            time.sleep(1)
    try:
        yield client
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def test_ui_shows_the_job_sensor_and_assets(dagster_dev) -> None:  # noqa: ANN001
    result = dagster_dev._execute(REPOSITORY_QUERY)
    (repo,) = result["repositoriesOrError"]["nodes"]
    assert repo["location"]["name"] == "file_pipeline"
    jobs = {job["name"] for job in repo["jobs"]}
    assert {"upload_files", "process_file_events"} <= jobs
    sensors = {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]}
    assert sensors["file_events_sensor"] == "RUNNING"
    assets = {"/".join(a["assetKey"]["path"]) for a in repo["assetNodes"]}
    assert {
        "uploaded_files",
        "file_events",
        "virus_scan",
        "exif_metadata",
        "thumbnails",
        "search_index",
        "notifications",
        "file_statistics",
    } <= assets


def test_launchpad_default_config_run_succeeds_and_sensor_processes_it(
    dagster_dev,
    instance,
    postgres,  # noqa: ANN001
) -> None:
    run_id = dagster_dev.submit_job_execution("upload_files", run_config={})
    deadline = time.monotonic() + 180
    status = None
    while time.monotonic() < deadline:
        status = dagster_dev.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS"

    with postgres.connection() as conn:
        file_ids = [
            r[0] for r in conn.execute("SELECT id FROM files WHERE upload_run_id = %s", (run_id,))
        ]
    assert len(file_ids) == 4, "the default config uploads the four sample files"

    deadline = time.monotonic() + 180
    done: list[str] = []
    while time.monotonic() < deadline:
        with postgres.connection() as conn:
            done = [
                r[0]
                for r in conn.execute(
                    "SELECT file_id FROM processing_results"
                    " WHERE step = 'notifications' AND file_id = ANY(%s)",
                    (file_ids,),
                )
            ]
        if len(done) == 4:
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
