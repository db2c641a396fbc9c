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
- The instance remembers the last location a forkserver was started for (a file in its root
  directory). When `dagster-daemon` starts, `WarmingRunCoordinator` has the launcher start that
  location's forkserver at once, in the background, so the first run after a restart of the
  daemon is forked as fast as the later ones (`warm_up_at_daemon_start`, on by default).
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

import json
import logging
import os
import signal
import sys
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
REMEMBERED_LOCATION_FILE = "run_forkserver.json"
"""In the instance's root directory: the location of the last forkserver started, to warm up."""

LOG = logging.getLogger("file_pipeline.launcher")


def in_dagster_daemon() -> bool:
    """Whether this process is `dagster-daemon run`, started as the console script or the way
    `dagster dev` starts it (`python -m dagster._daemon run`)."""
    if len(sys.argv) < 2 or sys.argv[1] != "run":
        return False
    program = Path(sys.argv[0])
    return program.name == "dagster-daemon" or program.parts[-2:] == ("_daemon", "__main__.py")


def _stat_fields(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat from its third field (the state) on, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def process_start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22), or None if
    there is no such process or it has exited (a zombie)."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def forkservers_of(parent_pid: int) -> dict[int, int]:
    """The run forkservers a process (a `dagster-daemon`) started: each one's pid and the CPU
    time it has used (user + system, in clock ticks). For tests and benchmarks that watch the
    warm-up."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            fields
            and int(fields[1]) == parent_pid
            and args[1:3] == [b"-m", b"file_pipeline.launcher"]
        ):
            found[int(entry.name)] = int(fields[11]) + int(fields[12])
    return found


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
        warm_up_at_daemon_start: bool = True,
    ) -> None:
        super().__init__(inst_data=inst_data)
        self.start_timeout_seconds = start_timeout_seconds
        self.warm_up_at_daemon_start = warm_up_at_daemon_start
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
            ),
            "warm_up_at_daemon_start": dg.Field(
                bool,
                is_required=False,
                default_value=True,
                description=(
                    "When dagster-daemon starts (with WarmingRunCoordinator), start the "
                    "forkserver of the location the instance last ran, before any run asks."
                ),
            ),
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
                reason = f"{', '.join(changed[:3])} changed since the forkserver loaded"
            else:
                reason = "first run of this code location"
            if forkserver is not None:
                forkserver.stop()
                self._forkserver = None
            since_failure = time.monotonic() - self._last_failure
            if self._last_error is not None and since_failure < RESTART_INTERVAL_SECONDS:
                raise ForkserverError(
                    f"the forkserver failed to start {since_failure:.0f} s ago: {self._last_error}"
                )
            self._instance.report_engine_event(
                f"Starting a run forkserver ({reason}).", run, cls=self.__class__
            )
            working_directory = origin.repository_origin.code_pointer.working_directory
            location = {
                "origin": serialized_origin,
                "executable": origin.executable_path,
                "working_directory": working_directory or os.getcwd(),
            }
            try:
                forkserver = self._start(location)
            except ForkserverError as error:
                self._last_error, self._last_failure = str(error), time.monotonic()
                raise
            self._last_error = None
            self._remember(location)
            return forkserver.fork_run(run.run_id)

    def _start(self, location: Mapping[str, str]) -> RunForkserver:
        """Start the forkserver of `location` (origin, executable, working directory) and make
        it this launcher's; the caller holds the lock."""
        forkserver = RunForkserver(
            serialized_origin=location["origin"],
            serialized_instance_ref=serialize_value(self._instance.get_ref()),
            executable=location["executable"],
            working_directory=Path(location["working_directory"]),
        )
        forkserver.start(self.start_timeout_seconds)
        self._forkserver = forkserver
        return forkserver

    def _remembered_path(self) -> Path:
        return Path(self._instance.root_directory) / REMEMBERED_LOCATION_FILE

    def _remember(self, location: Mapping[str, str]) -> None:
        """Keep the location for the next daemon's warm-up (written whole, then renamed)."""
        path = self._remembered_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(location))
            temporary.replace(path)
        except OSError as error:
            LOG.warning("cannot remember the forkserver's location in %s: %s", path, error)

    def remembered_location(self) -> dict[str, str] | None:
        """The location of the last forkserver this instance started, if it is readable."""
        try:
            location = json.loads(self._remembered_path().read_text())
        except (OSError, ValueError):
            return None
        keys = ("origin", "executable", "working_directory")
        if not isinstance(location, dict):
            return None
        if not all(isinstance(location.get(key), str) for key in keys):
            return None
        return {key: location[key] for key in keys}

    def warm_up(self) -> threading.Thread | None:
        """Start the remembered location's forkserver in the background (the daemon calls this
        as it starts); a run launched meanwhile waits for it. If it cannot start, nothing is
        held against the next try: the first run starts one itself, as without a warm-up."""
        location = self.remembered_location() if self.warm_up_at_daemon_start else None
        if location is None:
            return None
        thread = threading.Thread(
            target=self._warm_up, args=(location,), name="run-forkserver-warm-up", daemon=True
        )
        thread.start()
        return thread

    def _warm_up(self, location: dict[str, str]) -> None:
        with self._lock:
            if self._forkserver is not None:
                return
            try:
                forkserver = self._start(location)
            except Exception as error:  # optional work: whatever went wrong, a run starts one
                LOG.warning("the run forkserver did not warm up (the first run will): %s", error)
                return
            LOG.info("run forkserver %s warmed up for the next run", forkserver.pid)

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


class WarmingRunCoordinator(dg.QueuedRunCoordinator):
    """Dagster's `QueuedRunCoordinator`, which also, in `dagster-daemon` only, has a
    `ForkingRunLauncher` warm up its forkserver as the daemon starts. The daemon creates its run
    coordinator at start-up (the run queue's interval is its setting); the launcher would
    otherwise be created only by the first run it launches. Other processes (the webserver,
    the CLI) submit runs without starting a forkserver.

    `dequeue_interval_seconds` may also be a fraction here (Dagster's takes whole seconds): the
    daemon's run queue loop takes any number, and waits in steps of half a second, so 0.5 checks
    the queue about twice as often as 1 (at least every 0.5 s plus the check itself, instead of
    every 1.0 to 1.5 s)."""

    def __init__(self, dequeue_interval_seconds: float | None = None, **kwargs: Any) -> None:
        whole = None if dequeue_interval_seconds is None else max(1, int(dequeue_interval_seconds))
        super().__init__(dequeue_interval_seconds=whole, **kwargs)
        if dequeue_interval_seconds is not None:
            if dequeue_interval_seconds <= 0:
                raise ValueError(
                    f"dequeue_interval_seconds must be positive, not {dequeue_interval_seconds}"
                )
            self._dequeue_interval_seconds = dequeue_interval_seconds  # type: ignore[assignment]

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        schema = dict(super().config_type())  # type: ignore[arg-type]
        schema["dequeue_interval_seconds"] = dg.Field(
            dg.Float,
            is_required=False,
            description="How often, in seconds (fractions allowed), the daemon checks the run "
            "queue for runs to launch.",
        )
        return schema

    def register_instance(self, instance: dg.DagsterInstance) -> None:
        super().register_instance(instance)
        if in_dagster_daemon():
            launcher = instance.run_launcher
            if isinstance(launcher, ForkingRunLauncher):
                launcher.warm_up()
