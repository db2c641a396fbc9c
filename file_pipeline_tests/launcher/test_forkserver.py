"""The run forkserver on a project of its own (a tmp folder with one job, a SQLite instance): it
starts, forks a worker that executes a real run, notices edited and added files, and a location
that does not load is a ForkserverError, not a hang; the launcher warms up the location it
remembers, and a memory that is missing, garbled or out of date warms up nothing."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.instance import InstanceRef
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._serdes import serialize_value

from file_pipeline.launcher.forkserver import ForkserverError, RunForkserver, changed_sources
from file_pipeline.launcher.launcher import REMEMBERED_LOCATION_FILE, ForkingRunLauncher

JOB = """
import os
import dagster as dg

@dg.op
def write_pid() -> None:
    with open(os.environ["FORKSERVER_TEST_OUT"], "w") as out:
        out.write(str(os.getpid()))

@dg.job(executor_def=dg.in_process_executor)
def pid_job() -> None:
    write_pid()

defs = dg.Definitions(jobs=[pid_job])
"""


def _origin(project: Path, module: str) -> RepositoryPythonOrigin:
    return RepositoryPythonOrigin(
        executable_path=sys.executable,
        code_pointer=ModuleCodePointer(module, "defs", str(project)),
        container_image=None,
        entry_point=None,
        container_context=None,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "forkserver_test_defs.py").write_text(JOB)
    return folder


@pytest.fixture
def instance_ref(tmp_path: Path) -> InstanceRef:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return InstanceRef.from_dir(str(home))


@pytest.fixture
def forkserver(
    project: Path, instance_ref: InstanceRef, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunForkserver]:
    monkeypatch.setenv("FORKSERVER_TEST_OUT", str(tmp_path / "worker-pid"))
    server = RunForkserver(
        serialized_origin=serialize_value(_origin(project, "forkserver_test_defs")),
        serialized_instance_ref=serialize_value(instance_ref),
        executable=sys.executable,
        working_directory=project,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_forked_worker_executes_the_run(
    forkserver: RunForkserver, project: Path, instance_ref: InstanceRef, tmp_path: Path
) -> None:
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        from forkserver_test_defs import pid_job  # type: ignore[import-not-found]

        run = instance.create_run_for_job(
            pid_job,
            job_code_origin=JobPythonOrigin("pid_job", _origin(project, "forkserver_test_defs")),
        )
        pid = forkserver.fork_run(run.run_id)
        assert pid not in (os.getpid(), forkserver.pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            finished = instance.get_run_by_id(run.run_id)
            if finished is not None and finished.is_finished:
                break
            time.sleep(0.1)
        assert finished is not None and finished.status == dg.DagsterRunStatus.SUCCESS
    assert (tmp_path / "worker-pid").read_text() == str(pid), "the op ran in the forked worker"


@pytest.fixture(autouse=True)
def _importable(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(project))


def test_an_edited_or_added_file_makes_the_forkserver_stale(
    forkserver: RunForkserver, project: Path
) -> None:
    module = project / "forkserver_test_defs.py"
    assert str(module) in {path for path, _ in forkserver.sources}
    assert forkserver.stale() == []

    later = module.stat().st_mtime_ns + 2_000_000_000
    os.utime(module, ns=(later, later))
    assert forkserver.stale() == [str(module)]

    fresh = [(path, os.stat(path).st_mtime_ns) for path, _ in forkserver.sources]
    assert changed_sources(fresh) == []
    (project / "new_asset.py").write_text("")
    assert str(project) in changed_sources(fresh), "a new file changes its folder"


def test_a_stopped_forkserver_is_stale(forkserver: RunForkserver) -> None:
    forkserver.stop()
    assert forkserver.stale() == ["the forkserver exited"]


def test_a_location_that_does_not_load_fails_to_start(
    project: Path, instance_ref: InstanceRef
) -> None:
    server = RunForkserver(
        serialized_origin=serialize_value(_origin(project, "no_such_module_here")),
        serialized_instance_ref=serialize_value(instance_ref),
        executable=sys.executable,
        working_directory=project,
    )
    with pytest.raises(ForkserverError, match="exited with status 1"):
        server.start()
    assert not server.alive()


def test_a_missing_interpreter_fails_to_start(project: Path, instance_ref: InstanceRef) -> None:
    server = RunForkserver(
        serialized_origin=serialize_value(_origin(project, "forkserver_test_defs")),
        serialized_instance_ref=serialize_value(instance_ref),
        executable=str(project / "no-python"),
        working_directory=project,
    )
    with pytest.raises(ForkserverError, match="no-python"):
        server.start()


def test_the_launcher_warms_up_the_location_it_remembers(
    project: Path, instance_ref: InstanceRef
) -> None:
    location = {
        "origin": serialize_value(_origin(project, "forkserver_test_defs")),
        "executable": sys.executable,
        "working_directory": str(project),
    }
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        memory = Path(instance.root_directory) / REMEMBERED_LOCATION_FILE
        launcher = ForkingRunLauncher()
        launcher.register_instance(instance)
        try:
            assert launcher.remembered_location() is None and launcher.warm_up() is None
            memory.write_text("{not json")
            assert launcher.warm_up() is None, "a garbled memory warms up nothing"

            launcher._remember(location)
            assert launcher.remembered_location() == location
            thread = launcher.warm_up()
            assert thread is not None
            thread.join(90)
            forkserver = launcher._forkserver
            assert forkserver is not None and forkserver.alive()
            assert forkserver.serialized_origin == location["origin"]
        finally:
            launcher.dispose()

        # A remembered interpreter that is gone: no forkserver, and nothing held against the
        # first run, which starts one itself.
        launcher = ForkingRunLauncher()
        launcher.register_instance(instance)
        launcher._remember({**location, "executable": str(project / "no-python")})
        thread = launcher.warm_up()
        assert thread is not None
        thread.join(30)
        assert launcher._forkserver is None and launcher._last_error is None

        off = ForkingRunLauncher(warm_up_at_daemon_start=False)
        off.register_instance(instance)
        assert off.warm_up() is None
