"""Real processes a test controls: a `dagster-daemon` it can SIGKILL and start again, and a
private clamd with its own limits and signature database (the stack's clamd is left alone)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import dagster as dg
import yaml

from file_pipeline import settings
from file_pipeline.cli.runtime import Resources, free_port, load_definitions, open_resources
from file_pipeline.db import files as file_rows
from file_pipeline.processing.scanning import ClamdScanner
from file_pipeline.sandbox import isolated_environment
from file_pipeline.stack.clamav import (
    LIMITS,
    build_signature_database,
    clamd_config,
    shipped_database_dir,
)

if TYPE_CHECKING:
    from dagster._core.scheduler.instigation import InstigatorState, InstigatorTick

PROJECT_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


class Daemon:
    """`dagster-daemon run` on this environment's instance (DAGSTER_HOME), in its own process
    group so that a kill takes its code server and run workers with it."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.groups: set[int] = set()
        """Every process group started (a killed daemon's code server lives on in its own)."""

    def start(self) -> Daemon:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("dagster-daemon")),
                    "run",
                    "-w",
                    str(PROJECT_ROOT / "workspace.yaml"),
                ],
                cwd=PROJECT_ROOT,
                env=dict(os.environ),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.groups.add(self.proc.pid)
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the daemon alone (SIGKILL leaves its children orphaned, as a crash would)."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop the daemon and everything it ever started (code servers, run workers),
        including what a daemon killed earlier left behind."""
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        time.sleep(1)
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        self.groups.clear()
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    """Poll `predicate` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def processing_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(job_name="process_file_events")))


@contextmanager
def private_clamd(
    folder: Path,
    *,
    limits: dict[str, str] | None = None,
    signatures: list[Path] | None = None,
    version: int = 1,
) -> Iterator[ClamdScanner]:
    """A clamd of the test's own on a free loopback port, with the shipped signatures (or
    `signatures`) packed as database `version`, and the stack's limits (or `limits`)."""
    database = folder / "db"
    build_signature_database(
        signatures or sorted(shipped_database_dir().glob("*.ndb")), version, database
    )
    port = free_port()
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    config = folder / "clamd.conf"
    config.write_text(
        clamd_config(
            port=port,
            database_dir=database,
            log_path=folder / "clamd.log",
            pid_path=folder / "clamd.pid",
            tmp_dir=folder / "tmp",
            limits=limits or LIMITS,
        )
    )
    with (folder / "console.log").open("ab") as console:
        proc = subprocess.Popen(
            ["/usr/sbin/clamd", "-c", str(config)],
            stdout=console,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    scanner = ClamdScanner("127.0.0.1", port, timeout=30)
    try:
        wait_for(scanner.ping, 60, f"the private clamd on port {port}", interval=0.05)
        yield scanner
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class DaemonEnvironment:
    """An isolated environment of its own (databases, bucket, topics, DAGSTER_HOME) with a
    `dagster-daemon` running the sensors and the run queue, as in production."""

    env: dict[str, str]
    resources: Resources
    instance: dg.DagsterInstance
    definitions: dg.Definitions
    daemon: Daemon

    def sensor_state(self, name: str = "file_events_sensor") -> InstigatorState | None:
        for state in self.instance.all_instigator_state():
            if state.name == name:
                return state
        return None

    def sensor_cursor(self) -> str | None:
        state = self.sensor_state()
        data = state.sensor_instigator_data if state else None
        return data.cursor if data else None

    def ticks(self, limit: int = 50) -> list[InstigatorTick]:
        state = self.sensor_state()
        if state is None:
            return []
        return list(
            self.instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=limit)
        )

    def processed(self, file_ids: list[str]) -> set[str]:
        with self.resources.postgres.connection() as conn:
            return file_rows.processed_ids(conn, file_ids)

    def wait_until_processed(self, file_ids: list[str], timeout: float) -> None:
        def done() -> bool:
            if not self.daemon.alive():
                raise AssertionError(f"dagster-daemon exited: {self.daemon.log_tail()}")
            return len(self.processed(file_ids)) == len(file_ids)

        wait_for(done, timeout, f"{len(file_ids)} files to reach their final state", 1.0)

    def finished_processing_runs(self, timeout: float = 180) -> list[dg.DagsterRun]:
        """The processing runs, once there is at least one and every one has finished."""
        return wait_for(
            lambda: (
                all(r.is_finished for r in processing_runs(self.instance))
                and processing_runs(self.instance)
            ),
            timeout,
            "the processing runs to finish",
        )


@contextmanager
def daemon_environment(
    label: str,
    folder: Path,
    extra_env: dict[str, str] | None = None,
    instance_sections: dict[str, Any] | None = None,
) -> Iterator[DaemonEnvironment]:
    """`extra_env` (e.g. a short SWEEP_AFTER_SECONDS, another CLAMAV_PORT) is set for the
    daemon, its code server and its runs, and restored afterwards. The sensor waits for events
    as deployed (FILE_EVENTS_WAIT_SECONDS at its default) unless `extra_env` says otherwise.
    `instance_sections` replace those sections of the environment's dagster.yaml."""
    wait = settings.FILE_EVENTS_WAIT_SECONDS
    extra = {wait.name: wait.default, **(extra_env or {})}
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        with (
            isolated_environment(label) as env,
            open_resources() as resources,
            _instance(Path(env["DAGSTER_HOME"]), instance_sections or {}) as instance,
        ):
            daemon = Daemon(folder / "daemon.log").start()
            try:
                yield DaemonEnvironment(env, resources, instance, load_definitions(), daemon)
            finally:
                daemon.stop()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _instance(home: Path, sections: dict[str, Any]) -> Iterator[dg.DagsterInstance]:
    if sections:
        path = home / "dagster.yaml"
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **sections}))
    with dg.DagsterInstance.get() as instance:
        yield instance
