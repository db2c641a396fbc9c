"""A warm process that forks Dagster run workers: Dagster, the instance's storage and one code
location are imported, and the location's definitions built, once; each run is then a fork of it.

A run started the usual way (the code server spawns `start_run_in_subprocess`) pays for a new
interpreter every time: importing Dagster and its storage, then loading the code location, about
4 s of CPU per run on this project's 2-core machine before the first step starts. A fork starts
with all of that in memory and only rebuilds the definitions (about 0.35 s).

Protocol, one JSON line each way over the forkserver's stdin and stdout:
- on start it prints `{"ready": true, "pid": ..., "sources": [[path, mtime_ns], ...]}`, the project
  files and folders it loaded (so the launcher can tell when the code changed), or exits non-zero
  with the error on stderr;
- for each `{"run_id": ...}` it forks and prints `{"pid": <child pid>}`; the
  child executes the run as `dagster api execute_run` does and exits with its status.

The forkserver exits when its stdin closes (the launcher went away); run workers it forked keep
running. It ignores SIGCHLD, so exited workers are reaped at once and a pid that is gone means the
worker is gone.

    python -m file_pipeline.launcher '<RepositoryPythonOrigin>' '<InstanceRef>'
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from file_pipeline.errors import FilePipelineError

READY_TIMEOUT_SECONDS = 120.0
FORK_TIMEOUT_SECONDS = 10.0


class ForkserverError(FilePipelineError):
    """The forkserver could not be started or did not fork a run worker; the launcher falls
    back to the code server."""


def loaded_sources(project_root: Path) -> list[tuple[str, int]]:
    """The project's Python files this process imported, and the folders that hold them (a new
    file in an auto-loaded `defs/` folder changes its folder's mtime), with their mtimes."""
    root = project_root.resolve()
    environments = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    paths: set[Path] = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        if not path.is_relative_to(root) or any(path.is_relative_to(e) for e in environments):
            continue
        paths.add(path)
        paths.add(path.parent)
    return [(str(p), p.stat().st_mtime_ns) for p in sorted(paths)]


def changed_sources(sources: list[tuple[str, int]]) -> list[str]:
    """Which of `sources` were modified or removed since they were recorded."""
    changed = []
    for path, mtime_ns in sources:
        try:
            if os.stat(path).st_mtime_ns != mtime_ns:
                changed.append(path)
        except OSError:
            changed.append(path)
    return changed


@dataclass
class RunForkserver:
    """The launcher's handle on one forkserver process, for one code location (the repository
    origin it was started with). Not thread-safe: the launcher serialises calls."""

    serialized_origin: str
    serialized_instance_ref: str
    executable: str
    working_directory: Path
    process: subprocess.Popen[bytes] | None = None
    sources: list[tuple[str, int]] = field(default_factory=list)

    def start(self, timeout_seconds: float = READY_TIMEOUT_SECONDS) -> None:
        """Start the forkserver and wait until it has loaded the code location."""
        try:
            self.process = self._spawn()
        except OSError as error:
            raise ForkserverError(f"cannot start {self.executable}: {error}") from error
        reply = self._read_reply(timeout_seconds, "start")
        if not reply.get("ready"):
            raise ForkserverError(f"forkserver did not start: {reply}")
        self.sources = [(path, int(mtime)) for path, mtime in reply["sources"]]

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                self.executable,
                "-m",
                "file_pipeline.launcher",
                self.serialized_origin,
                self.serialized_instance_ref,
            ],
            cwd=self.working_directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stale(self) -> list[str]:
        """Why this forkserver cannot fork the current code: its exit, or the files changed."""
        if not self.alive():
            return ["the forkserver exited"]
        return changed_sources(self.sources)

    def fork_run(self, run_id: str) -> int:
        """Fork a worker for `run_id`; its pid."""
        assert self.process is not None and self.process.stdin is not None
        request = json.dumps({"run_id": run_id})
        try:
            self.process.stdin.write(request.encode() + b"\n")
            self.process.stdin.flush()
        except OSError as error:
            raise ForkserverError(f"forkserver {self.pid} is gone: {error}") from error
        reply = self._read_reply(FORK_TIMEOUT_SECONDS, f"fork run {run_id}")
        if "pid" not in reply:
            raise ForkserverError(f"forkserver {self.pid} did not fork run {run_id}: {reply}")
        return int(reply["pid"])

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def _read_reply(self, timeout: float, doing: str) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            self.stop()
            raise ForkserverError(f"forkserver did not answer within {timeout:g} s ({doing})")
        line = stdout.readline()
        if not line:  # its output closed: it is exiting
            try:
                code = self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.stop()
                raise ForkserverError(f"forkserver closed its output ({doing})") from None
            raise ForkserverError(f"forkserver exited with status {code} ({doing})")
        return json.loads(line)


def _preload(serialized_origin: str, serialized_instance_ref: str) -> list[tuple[str, int]]:
    """Import what a run worker needs, build the code location's definitions and open the
    instance (which imports its storage classes) once."""
    import dagster._cli.api  # noqa: F401  (the run worker's entry point)
    from dagster._core.instance import DagsterInstance, InstanceRef
    from dagster._core.origin import RepositoryPythonOrigin
    from dagster._serdes import deserialize_value
    from dagster._utils.hosted_user_process import recon_repository_from_origin

    origin = deserialize_value(serialized_origin, RepositoryPythonOrigin)
    recon_repository_from_origin(origin).get_definition()
    with DagsterInstance.from_ref(deserialize_value(serialized_instance_ref, InstanceRef)):
        pass
    return loaded_sources(Path.cwd())


def _execute_run(run_id: str, serialized_instance_ref: str) -> int:
    """In the forked child: what `dagster api execute_run` does, without a new interpreter."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance import DagsterInstance, InstanceRef
    from dagster._serdes import deserialize_value
    from dagster._utils.interrupts import capture_interrupts, setup_interrupt_handlers

    setup_interrupt_handlers()
    with capture_interrupts():
        instance_ref = deserialize_value(serialized_instance_ref, InstanceRef)
        with DagsterInstance.from_ref(instance_ref) as instance:
            return _execute_run_command_body(
                run_id, instance, lambda _event: None, set_exit_code_on_failure=True
            )


def _reply(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def _become_run_worker() -> None:
    """The forked child lets go of the forkserver's pipes and signal handling."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    gc.enable()


def serve(requests: IO[bytes], replies: IO[bytes], serialized_instance_ref: str) -> int | None:
    """Fork a run worker per request until `requests` ends. In the forkserver it returns None at
    the end; in a forked child it returns that worker's exit status."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while line := requests.readline():
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _become_run_worker()
            try:
                return _execute_run(request["run_id"], serialized_instance_ref)
            except BaseException:
                traceback.print_exc()
                return 1
        _reply(replies, {"pid": pid})
    return None


def main(serialized_origin: str, serialized_instance_ref: str) -> int:
    replies = sys.stdout.buffer
    sys.stdout = sys.stderr
    # As Python's gc docs advise for fork without exec: no collection while loading, then the
    # loaded objects frozen, so collections in a worker never write to (and copy) their pages.
    gc.disable()
    try:
        sources = _preload(serialized_origin, serialized_instance_ref)
    except Exception:
        traceback.print_exc()
        return 1
    gc.freeze()
    if threading.active_count() != 1:
        print(
            f"forkserver: {threading.active_count()} threads after loading; a fork copies only "
            "one, so it refuses to serve",
            file=sys.stderr,
        )
        return 1
    _reply(replies, {"ready": True, "pid": os.getpid(), "sources": sources})
    status = serve(sys.stdin.buffer, replies, serialized_instance_ref)
    return 0 if status is None else status
