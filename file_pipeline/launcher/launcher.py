"""`ForkingRunLauncher`: Dagster's `DefaultRunLauncher`, except that a run's process is forked from
a warm forkserver (`file_pipeline.launcher.forkserver`) instead of a new interpreter spawned by
the code server.

Measured on this project's 2-core machine, a processing run took 4.4 s from STARTING to
RUN_START through the code server (a new interpreter importing Dagster, its storage and the code
location); a fork of a process that holds them needs only to rebuild the definitions.

- The forkserver is started on the first launch (in the daemon), for that run's code location,
  and started again when it exits or when a project file it loaded changes (so an edited `defs/`
  runs as edited). That run waits for it to load, about as long as a spawned run would take to
  start. (Starting it in the background while the first run went through the code server was
  slower on 2 cores: both loaded at once, and that run took 8.5 s to start instead of 5.)
- Anything the forkserver cannot do (it fails to start, does not answer, the run belongs to
  another location) is logged on the run and the run goes through the code server, as with
  `DefaultRunLauncher`; after a failed start, for 30 s before the next try.
- The worker's pid and start time go in the run's `file_pipeline/run_worker` tag. Run monitoring
  asks `check_run_worker_health`: a started run whose worker is gone (killed, out of memory) is
  failed, and Dagster's run retries take it from there, as the code server would have done.
- `terminate` interrupts the worker with SIGINT, what the code server's cancellation sends.

Configured in `dagster_home/dagster.yaml`; the container deployments keep their own launchers.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._config.config_schema import UserConfigSchema
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._serdes import ConfigurableClassData, serialize_value
from typing_extensions import Self

from file_pipeline.launcher.forkserver import READY_TIMEOUT_SECONDS, ForkserverError, RunForkserver

RESTART_INTERVAL_SECONDS = 30.0
"""After a failed start, how long runs go through the code server before the next try."""
RUN_WORKER_TAG = "file_pipeline/run_worker"
"""`<pid>:<start time in clock ticks>` of the forked process executing a run."""


def process_start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22), or None if
    there is no such process or it has exited (a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def worker_alive(worker: tuple[int, int]) -> bool:
    """Whether the (pid, start time) of a run worker is still that process, running."""
    pid, start_time = worker
    return process_start_time(pid) == start_time


def run_worker_of(run: dg.DagsterRun) -> tuple[int, int] | None:
    """The (pid, start time) in a run's RUN_WORKER_TAG, if it was forked by this launcher."""
    value = run.tags.get(RUN_WORKER_TAG)
    if not value:
        return None
    pid, start_time = value.split(":")
    return int(pid), int(start_time)


class ForkingRunLauncher(dg.DefaultRunLauncher):
    """Launches each run in a process forked from a warm forkserver of its code location."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        start_timeout_seconds: float = READY_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(inst_data=inst_data)
        self.start_timeout_seconds = start_timeout_seconds
        self._lock = threading.Lock()
        self._forkserver: RunForkserver | None = None
        self._last_failure = float("-inf")
        self._last_error: str | None = None

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {
            "start_timeout_seconds": dg.Field(
                float,
                is_required=False,
                default_value=READY_TIMEOUT_SECONDS,
                description=(
                    "How long a new forkserver may take to load the code location before the run "
                    "goes through the code server instead."
                ),
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        try:
            pid = self._fork(run)
        except ForkserverError as error:
            self._instance.report_engine_event(
                f"Launching the run through the code server: {error}.", run, cls=self.__class__
            )
            super().launch_run(context)
            return
        start_time = process_start_time(pid)
        self._instance.add_run_tags(run.run_id, {RUN_WORKER_TAG: f"{pid}:{start_time or 0}"})
        self._run_ids.add(run.run_id)

    def _fork(self, run: dg.DagsterRun) -> int:
        """Fork the run's worker from the forkserver of its location, starting one first if
        there is none or its code changed. After a failed start, runs go through the code server
        for RESTART_INTERVAL_SECONDS before the next try."""
        origin = run.job_code_origin
        if origin is None:
            raise ForkserverError("the run has no code origin")
        serialized_origin = serialize_value(origin.repository_origin)
        with self._lock:
            forkserver = self._forkserver
            if forkserver is not None and forkserver.serialized_origin == serialized_origin:
                changed = forkserver.stale()
                if not changed:
                    return forkserver.fork_run(run.run_id)
                forkserver.stop()
                self._forkserver = None
                reason = f"{', '.join(changed[:3])} changed since the forkserver loaded"
            else:
                reason = "first run of this code location"
            since_failure = time.monotonic() - self._last_failure
            if self._last_error is not None and since_failure < RESTART_INTERVAL_SECONDS:
                raise ForkserverError(
                    f"the forkserver failed to start {since_failure:.0f} s ago: {self._last_error}"
                )
            self._instance.report_engine_event(
                f"Starting a run forkserver ({reason}).", run, cls=self.__class__
            )
            working_directory = origin.repository_origin.code_pointer.working_directory
            forkserver = RunForkserver(
                serialized_origin=serialized_origin,
                serialized_instance_ref=serialize_value(self._instance.get_ref()),
                executable=origin.executable_path,
                working_directory=Path(working_directory or os.getcwd()),
            )
            try:
                forkserver.start(self.start_timeout_seconds)
            except ForkserverError as error:
                self._last_error, self._last_failure = str(error), time.monotonic()
                raise
            self._forkserver, self._last_error = forkserver, None
            return forkserver.fork_run(run.run_id)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        worker = run_worker_of(run)
        if worker is None:
            # Launched through the code server, which watches its own run processes.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run through the code server")
        if worker_alive(worker):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker process {worker[0]} exited before the run finished"
        )

    def get_run_worker_debug_info(
        self, run: dg.DagsterRun, include_container_logs: bool | None = True
    ) -> str | None:
        worker = run_worker_of(run)
        if worker is None:
            return None
        return f"run worker pid {worker[0]} ({'running' if worker_alive(worker) else 'exited'})"

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        worker = run_worker_of(run) if run is not None else None
        if run is None or worker is None:
            return super().terminate(run_id)
        if run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        if not worker_alive(worker):
            self._instance.report_engine_event(
                f"Run worker process {worker[0]} had already exited.", run, cls=self.__class__
            )
            return False
        os.kill(worker[0], signal.SIGINT)
        return True

    def dispose(self) -> None:
        with self._lock:
            if self._forkserver is not None:
                self._forkserver.stop()
                self._forkserver = None
