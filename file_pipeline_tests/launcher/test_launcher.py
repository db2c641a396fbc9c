"""`ForkingRunLauncher` through a running `dagster-daemon`: the first run starts the forkserver
and every run is forked from that one, a restarted daemon warms up the forkserver before any run
asks, the UI's terminate interrupts a forked run, and a forkserver that cannot start leaves every
run on the code server with the reason logged. (A forked worker killed mid-run is failed by run
monitoring and retried: `defs/test_daemon_faults.py`.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster._serdes import ConfigurableClassData

from file_pipeline.launcher.launcher import (
    RUN_WORKER_TAG,
    ForkingRunLauncher,
    WarmingRunCoordinator,
    forkservers_of,
    in_dagster_daemon,
    process_start_time,
    run_worker_of,
)
from file_pipeline_tests.helpers import noise_photos, run_upload, uploaded_ids
from file_pipeline_tests.services import DaemonEnvironment, daemon_environment, wait_for

pytestmark = pytest.mark.stack


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DaemonEnvironment]:
    with daemon_environment("launcher", tmp_path / "daemon") as environment:
        yield environment


def _processing_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """The processing runs, oldest first."""
    records = instance.get_run_records(dg.RunsFilter(job_name="process_file_events"))
    return [r.dagster_run for r in sorted(records, key=lambda r: r.create_timestamp)]


def _engine_events(instance: dg.DagsterInstance, run_id: str) -> list[dg.DagsterEvent]:
    return [
        record.dagster_event
        for record in instance.all_logs(run_id)
        if record.dagster_event is not None
        and record.dagster_event.event_type_value == "ENGINE_EVENT"
    ]


def _engine_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [event.message or "" for event in _engine_events(instance, run_id)]


def _worker_pid_reported(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid in the run's "Started process for run" event, which its worker reports."""
    for event in _engine_events(instance, run_id):
        pid = event.engine_event_data.metadata.get("pid")
        if pid is not None and (event.message or "").startswith("Started process for run"):
            return int(pid.value)
    return None


def _upload(env: DaemonEnvironment, folder: Path, name: str) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"{name} {time.time()}")
    return uploaded_ids(run_upload(env.definitions, env.instance, [folder / name], "launcher"))


def _one_at_a_time(env: DaemonEnvironment, folder: Path, count: int) -> list[dg.DagsterRun]:
    """Upload `count` text files, each once the previous one is processed; the processing runs,
    once all finished, each of them successful."""
    for i in range(count):
        env.wait_until_processed(_upload(env, folder, f"{i}.txt"), timeout=180)
    env.finished_processing_runs()
    runs = _processing_runs(env.instance)
    assert len(runs) == count and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    return runs


def test_every_run_is_forked_from_the_forkserver_the_first_one_started(
    env: DaemonEnvironment, tmp_path: Path
) -> None:
    runs = _one_at_a_time(env, tmp_path / "files", 3)
    for run in runs:
        worker = run_worker_of(run)
        assert worker is not None and GRPC_INFO_TAG not in run.tags, "forked, not the code server"
        assert _worker_pid_reported(env.instance, run.run_id) == worker[0], "the forked pid ran it"
    starts = [
        [m for m in _engine_messages(env.instance, run.run_id) if "Starting a run forkserver" in m]
        for run in runs
    ]
    assert starts[0] and "first run of this code location" in starts[0][0]
    assert starts[1:] == [[], []], "one forkserver for all three"


def test_a_restarted_daemon_warms_up_the_forkserver_of_the_last_location(
    env: DaemonEnvironment, tmp_path: Path
) -> None:
    (first,) = _one_at_a_time(env, tmp_path / "files", 1)
    messages = _engine_messages(env.instance, first.run_id)
    assert any("Starting a run forkserver" in m for m in messages)
    env.daemon.stop()
    daemon = env.daemon.start()
    assert daemon.proc is not None
    # Nothing was uploaded since: a forkserver of the new daemon can only be its warm-up.
    (warmed,) = wait_for(
        lambda: list(forkservers_of(daemon.proc.pid)), 90, "the new daemon to warm up a forkserver"
    )
    started_at = process_start_time(warmed)
    assert [r.run_id for r in _processing_runs(env.instance)] == [first.run_id]

    env.wait_until_processed(_upload(env, tmp_path / "files", "after-restart.txt"), timeout=180)
    env.finished_processing_runs()
    second = _processing_runs(env.instance)[-1]
    assert second.run_id != first.run_id and second.status == dg.DagsterRunStatus.SUCCESS
    assert run_worker_of(second) is not None, "forked"
    assert not any(
        "Starting a run forkserver" in m for m in _engine_messages(env.instance, second.run_id)
    ), "the run used the forkserver warmed up at the daemon's start"
    assert (
        list(forkservers_of(daemon.proc.pid)) == [warmed]
        and process_start_time(warmed) == started_at
    )


INSTANCE_YAML = Path(__file__).resolve().parents[2] / "dagster_home" / "dagster.yaml"


def _coordinator(module: str, name: str, config: dict) -> dg.QueuedRunCoordinator:
    """The run coordinator an instance builds from this dagster.yaml entry."""
    data = ConfigurableClassData(module, name, yaml.safe_dump(config))
    return data.rehydrate(as_type=dg.QueuedRunCoordinator)


def test_the_daemon_checks_the_run_queue_every_half_second() -> None:
    """The local instance's queue interval is 0.5 s, which Dagster's own coordinator refuses
    (whole seconds); the daemon's run queue loop is built with it."""
    entry = yaml.safe_load(INSTANCE_YAML.read_text())["run_coordinator"]
    coordinator = _coordinator(entry["module"], entry["class"], entry["config"])
    assert isinstance(coordinator, WarmingRunCoordinator)
    assert coordinator.dequeue_interval_seconds == 0.5
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=coordinator.dequeue_interval_seconds)
    assert daemon.interval_seconds == 0.5
    with pytest.raises(DagsterInvalidConfigError):
        _coordinator("dagster", "QueuedRunCoordinator", {"dequeue_interval_seconds": 0.5})
    whole = _coordinator("file_pipeline.launcher", "WarmingRunCoordinator", {})
    assert whole.dequeue_interval_seconds == 5, "unset: Dagster's default"
    with pytest.raises(ValueError, match="must be positive"):
        _coordinator(
            "file_pipeline.launcher", "WarmingRunCoordinator", {"dequeue_interval_seconds": 0.0}
        )


def test_only_dagster_daemon_warms_up(monkeypatch: pytest.MonkeyPatch) -> None:
    for argv, expected in [
        (["/venv/bin/dagster-daemon", "run", "-w", "workspace.yaml"], True),
        (["/venv/lib/python3.11/site-packages/dagster/_daemon/__main__.py", "run"], True),
        (["/venv/bin/dagster-daemon", "liveness-check"], False),
        (["/venv/bin/dagster-webserver", "run"], False),
        (["/venv/bin/dagster", "dev"], False),
        (["-c"], False),
    ]:
        monkeypatch.setattr("sys.argv", argv)
        assert in_dagster_daemon() is expected, argv


def test_terminate_interrupts_a_forked_run(env: DaemonEnvironment, tmp_path: Path) -> None:
    photos = noise_photos(tmp_path / "photos", 60, (2400, 1800))
    run_upload(env.definitions, env.instance, [photos], "terminate")
    run = wait_for(
        lambda: next(
            (r for r in _processing_runs(env.instance) if r.status == dg.DagsterRunStatus.STARTED),
            None,
        ),
        120,
        "the photos' processing run to start",
    )
    assert RUN_WORKER_TAG in run.tags, "forked"
    launcher = env.instance.run_launcher
    assert isinstance(launcher, ForkingRunLauncher)
    assert launcher.terminate(run.run_id)
    canceled = wait_for(
        lambda: (r := env.instance.get_run_by_id(run.run_id)) and r.is_finished and r,
        60,
        "the run to finish after terminate",
    )
    assert canceled.status == dg.DagsterRunStatus.CANCELED
    wait_for(
        lambda: launcher.check_run_worker_health(canceled).status.value == "FAILED",
        30,
        "the interrupted worker to exit",
    )


def test_a_forkserver_that_cannot_start_leaves_runs_on_the_code_server(tmp_path: Path) -> None:
    # No location loads in 10 ms: every start of the forkserver times out.
    sections = {
        "run_launcher": {
            "module": "file_pipeline.launcher",
            "class": "ForkingRunLauncher",
            "config": {"start_timeout_seconds": 0.01},
        }
    }
    with daemon_environment("fallback", tmp_path / "daemon", instance_sections=sections) as env:
        runs = _one_at_a_time(env, tmp_path / "files", 2)
        for run in runs:
            assert RUN_WORKER_TAG not in run.tags, "not forked"
            assert GRPC_INFO_TAG in run.tags, "launched through the code server"
        # Each run is told why; the second does not try again so soon.
        first, second = (_engine_messages(env.instance, r.run_id) for r in runs)
        assert any("Starting a run forkserver" in m for m in first)
        assert any("did not answer within 0.01 s" in m for m in first), first
        assert not any("Starting a run forkserver" in m for m in second)
        assert any("failed to start" in m and "did not answer within 0.01 s" in m for m in second)
