"""Process plumbing: pid files, liveness, port probes, detached launches, stopping, installs.

Services run detached from the CLI (own session, stdin from /dev/null, output to log files) so that
`file-pipeline stack up` returns while they keep running; `down` only ever signals pids recorded in
our own pid files.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from file_pipeline.stack import paths
from file_pipeline.stack.errors import InstallError

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Launch:
    """How to start a service: argv, extra environment, working directory and OS user."""

    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None


@dataclass(frozen=True)
class ProcessIdentity:
    """A process we started: its pid and the kernel's record of when it started.

    A pid alone is not an identity: pids are recycled. The start time (in clock ticks since boot,
    `/proc/<pid>/stat` field 22) is set at fork and never changes, not even across exec, so a pid
    file is trusted only when the process with that pid started at the recorded time.
    """

    pid: int
    started: int


def pid_file(service: str) -> Path:
    return paths.run_dir() / f"{service}.pid"


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot), or None if there is no such live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def read_pid(service: str) -> ProcessIdentity | None:
    """The process recorded by `up` for a service, or None when there is no (valid) pid file.
    Pid files from before start times were recorded are not trusted."""
    try:
        pid, started = pid_file(service).read_text().split()
        return ProcessIdentity(int(pid), int(started))
    except (FileNotFoundError, ValueError):
        return None


def write_pid(service: str, identity: ProcessIdentity) -> None:
    path = pid_file(service)
    tmp = path.with_suffix(".pid.tmp")
    tmp.write_text(f"{identity.pid} {identity.started}\n")
    tmp.replace(path)


def remove_pid(service: str) -> None:
    pid_file(service).unlink(missing_ok=True)


def _reap(pid: int) -> None:
    """Collect the exit status if `pid` is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def process_alive(pid: int, started: int | None = None) -> bool:
    """Whether `pid` is a live (non-zombie) process, and, with `started`, the very process that
    started then (not another program that got the recycled pid)."""
    _reap(pid)
    actual = start_time(pid)
    return actual is not None and (started is None or actual == started)


def group_alive(pgid: int) -> bool:
    """Whether any process is left in process group `pgid`."""
    _reap(pgid)
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def port_open(port: int, host: str = "localhost", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port (any resolved address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    for family, socktype, proto, _, address in infos:
        with socket.socket(family, socktype, proto) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(address)
            except OSError:
                continue
            return True
    return False


def user_ids(user: str) -> tuple[int, int]:
    """(uid, gid) of an OS user."""
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _user_kwargs(user: str | None) -> dict[str, object]:
    """Popen arguments that run the child as `user` (only meaningful when we are root)."""
    if user is None or not paths.is_root():
        return {}
    uid, gid = user_ids(user)
    return {"user": uid, "group": gid, "extra_groups": []}


def _child_env(extra: Mapping[str, str], user: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if user is not None and paths.is_root():
        entry = pwd.getpwnam(user)
        env.update(HOME=entry.pw_dir, USER=user, LOGNAME=user)
    env.update(extra)
    return env


def spawn(launch: Launch, log_path: Path) -> ProcessIdentity:
    """Start a long-running process detached from us; its stdout/stderr append to `log_path`.

    The process leads its own session (and process group), so it survives the CLI exiting and
    `down` can signal the whole group.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            list(launch.argv),
            cwd=launch.cwd,
            env=_child_env(launch.env, launch.user),
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            **_user_kwargs(launch.user),  # type: ignore[arg-type]
        )
    started = start_time(proc.pid)
    if started is None:
        raise InstallError(f"{launch.argv[0]} exited at once; see {log_path}", log_path=log_path)
    return ProcessIdentity(proc.pid, started)


def run_logged(
    argv: Sequence[str],
    *,
    service: str,
    what: str,
    log_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    timeout: float | None = None,
) -> str:
    """Run a one-off command to completion, streaming its output into `log_path` (so slow builds
    can be followed with `tail -f`).

    Returns the output; raises InstallError naming `what` failed and where the log is.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        start = log.tell()
        try:
            result = subprocess.run(
                list(argv),
                cwd=cwd,
                env=_child_env(env or {}, user),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
                **_user_kwargs(user),  # type: ignore[arg-type]
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InstallError(
                f"{what} failed for {service}: {exc}; see {log_path}",
                service=service,
                log_path=log_path,
            ) from exc
    with open(log_path, "rb") as log:
        log.seek(start)
        output = log.read().decode(errors="replace")
    if result.returncode != 0:
        raise InstallError(
            f"{what} failed for {service} (exit {result.returncode}); see {log_path}:\n"
            f"{tail(log_path)}",
            service=service,
            log_path=log_path,
        )
    return output


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until `pid` is gone; True if it exited within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.1)
    return not process_alive(pid)


def stop_process(pid: int, sig: int = signal.SIGTERM, timeout: float = 20.0) -> bool:
    """Stop a process we started and everything in its process group.

    Sends `sig` to the leader, waits up to `timeout` seconds, then SIGKILLs the whole group.
    Returns True if the leader exited gracefully (without SIGKILL).
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    graceful = wait_for_exit(pid, timeout)
    if group_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    return graceful


def tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file ('' if missing)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def which(program: str, *extra_dirs: str) -> str | None:
    """`shutil.which`, also looking in `extra_dirs` (e.g. /usr/local/go/bin, not always on PATH)."""
    found = shutil.which(program)
    if found:
        return found
    for directory in extra_dirs:
        candidate = Path(directory) / program
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def apt_install(packages: Sequence[str], *, service: str, echo: Echo) -> None:
    """Install Debian packages (root only); otherwise say exactly which command to run.

    Runs `apt-get update` only when apt does not know a package yet (empty package lists).
    """
    command = f"apt-get install -y {' '.join(packages)}"
    if not paths.is_root():
        raise InstallError(
            f"{service} needs the Debian package(s) {', '.join(packages)}; install them with "
            f"`sudo {command}` and run `file-pipeline stack up` again",
            service=service,
        )
    log_path = paths.logs_dir() / "apt.log"
    known = subprocess.run(
        ["apt-cache", "show", *packages],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if known.returncode != 0:
        echo(f"{service}: apt-get update")
        run_logged(
            ["apt-get", "update", "-qq"],
            service=service,
            what="apt-get update",
            log_path=log_path,
            env=env,
        )
    echo(f"{service}: installing {' '.join(packages)} with apt-get (log: {log_path})")
    run_logged(
        ["apt-get", "install", "-y", "-q", *packages],
        service=service,
        what=command,
        log_path=log_path,
        env=env,
    )
