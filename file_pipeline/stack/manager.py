"""The lifecycle shared by all services: up (install, launch, wait), down, status, env exports.

`up` launches every selected service first and only then waits for each to answer, so services
start in parallel and a warm `up` takes about as long as the slowest one (Kafka, a few seconds).
`up` never reports "already running" over a half-done setup: each service's setup step
(databases, for PostgreSQL) runs on every `up`, and is idempotent. A pid file is trusted only
when the process with that pid started at the recorded time, so a recycled pid is never taken
for ours, never waited on and never killed.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Sequence

from file_pipeline import settings
from file_pipeline.stack import paths
from file_pipeline.stack.base import Service, ServiceStatus
from file_pipeline.stack.clamav import ClamAV
from file_pipeline.stack.errors import (
    PortInUseError,
    ServiceExitedError,
    StackError,
    StartTimeoutError,
)
from file_pipeline.stack.kafka import Kafka
from file_pipeline.stack.minio import Minio
from file_pipeline.stack.pgbouncer import PgBouncer
from file_pipeline.stack.postgres import Postgres
from file_pipeline.stack.process import (
    ProcessIdentity,
    port_open,
    process_alive,
    read_pid,
    remove_pid,
    spawn,
    stop_process,
    tail,
    write_pid,
)

SERVICES: tuple[str, ...] = ("postgres", "pgbouncer", "kafka", "minio", "clamav")
START_ORDER: tuple[str, ...] = ("postgres", "pgbouncer", "minio", "kafka", "clamav")
STOP_TIMEOUT = 20.0
PORT_RELEASE_SECONDS = 10.0
"""How long `up` waits for a port a stopped process of ours may still be releasing."""

_FACTORIES: dict[str, Callable[[], Service]] = {
    "postgres": Postgres,
    "pgbouncer": PgBouncer,
    "kafka": Kafka,
    "minio": Minio,
    "clamav": ClamAV,
}


def _select(services: Sequence[str] | None, order: Sequence[str]) -> list[Service]:
    """Service objects for the requested names (all when None), in `order`."""
    wanted = list(SERVICES) if not services else list(services)
    unknown = [name for name in wanted if name not in _FACTORIES]
    if unknown:
        raise StackError(
            f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(SERVICES)}"
        )
    return [_FACTORIES[name]() for name in order if name in wanted]


def _ours(service: Service) -> ProcessIdentity | None:
    """The process we started for `service` if it still runs; cleans stale pid files."""
    identity = read_pid(service.name)
    if identity is None:
        return None
    if process_alive(identity.pid, identity.started):
        return identity
    remove_pid(service.name)
    return None


def _status(service: Service) -> ServiceStatus:
    ours = _ours(service)
    running = ours is not None and service.ready()
    detail = service.detail()
    if ours is not None and not running:
        detail = f"process {ours.pid} alive but not answering on {service.address}; {detail}"
    elif ours is None:
        taken = [port for port in service.ports if port_open(port)]
        if taken:
            detail = f"stopped; port(s) {taken} in use by another process; {detail}"
    return ServiceStatus(
        name=service.name,
        running=running,
        pid=ours.pid if ours else None,
        address=service.address,
        detail=detail,
        log_path=service.log_path,
    )


def _start_failure(service: Service, ours: ProcessIdentity, waited: float) -> StackError:
    logs = [service.log_path]
    if service.console_log_path != service.log_path:
        logs.append(service.console_log_path)
    excerpts = "\n".join(f"--- last lines of {log} ---\n{tail(log)}" for log in logs)
    if not process_alive(ours.pid, ours.started):
        remove_pid(service.name)
        return ServiceExitedError(
            f"{service.name} exited while starting; see {service.log_path}\n{excerpts}",
            service=service.name,
            log_path=service.log_path,
        )
    return StartTimeoutError(
        f"{service.name} (pid {ours.pid}) did not answer on {service.address} within "
        f"{waited:.0f} s; see {service.log_path}; stop it with "
        f"`file-pipeline stack down {service.name}`\n{excerpts}",
        service=service.name,
        log_path=service.log_path,
    )


def _wait_ready(service: Service, ours: ProcessIdentity, started: float) -> None:
    """Poll until the service answers; fail only when its process exited or the timeout passed
    (never at once: the first checks may run before the process has set itself up)."""
    deadline = started + service.start_timeout
    while True:
        if service.ready():
            return
        if not process_alive(ours.pid, ours.started) or time.monotonic() > deadline:
            raise _start_failure(service, ours, time.monotonic() - started)
        time.sleep(0.2)


def _wait_for_free_ports(service: Service) -> None:
    """A process of ours that just stopped may hold its port a moment longer; anything else
    holding it is somebody else's, and reported."""
    deadline = time.monotonic() + PORT_RELEASE_SECONDS
    while True:
        taken = [port for port in service.ports if port_open(port)]
        if not taken:
            return
        if time.monotonic() > deadline:
            raise PortInUseError(service.name, taken[0])
        time.sleep(0.2)


def up(
    services: Sequence[str] | None = None, *, echo: Callable[[str], None] = print
) -> list[ServiceStatus]:
    """Install (first time), start and wait for the selected services (default: all).

    Services that already run from an earlier `up` are left alone. Raises a StackError subclass
    (PortInUseError, InstallError, StartTimeoutError, ...) whose message says what to do.
    """
    selected = _select(services, START_ORDER)
    pending: list[tuple[Service, ProcessIdentity, float]] = []
    running: list[Service] = []
    for service in selected:
        ours = _ours(service)
        if ours is not None and service.ready():
            echo(f"{service.name}: already running (pid {ours.pid}) on {service.address}")
            running.append(service)
            continue
        if ours is not None:
            echo(f"{service.name}: process {ours.pid} is still starting; waiting")
            pending.append((service, ours, time.monotonic()))
            continue
        _wait_for_free_ports(service)
        service.install(echo)
        service.prepare(echo)
        ours = spawn(service.launch(), service.console_log_path)
        write_pid(service.name, ours)
        echo(f"{service.name}: started pid {ours.pid} (log: {service.log_path})")
        pending.append((service, ours, time.monotonic()))
    for service in running:
        service.after_start(echo)  # completes a setup an earlier `up` left half-done
    for service, ours, started in pending:
        _wait_ready(service, ours, started)
        service.after_start(echo)
        echo(f"{service.name}: ready on {service.address} after {time.monotonic() - started:.1f} s")
    return [_status(service) for service in selected]


def down(
    services: Sequence[str] | None = None, *, echo: Callable[[str], None] = print
) -> list[ServiceStatus]:
    """Stop the selected services that `up` started (default: all); data is kept.

    Sends each its stop signal, waits up to 20 s, then SIGKILLs its process group.
    """
    selected = _select(services, tuple(reversed(START_ORDER)))
    for service in selected:
        ours = _ours(service)
        if ours is None:
            echo(f"{service.name}: not running")
            continue
        started = time.monotonic()
        echo(f"{service.name}: stopping pid {ours.pid}")
        graceful = stop_process(ours.pid, service.stop_signal, STOP_TIMEOUT)
        remove_pid(service.name)
        how = "stopped" if graceful else "killed (did not stop within 20 s)"
        echo(f"{service.name}: {how} after {time.monotonic() - started:.1f} s")
    return [_status(service) for service in selected]


def status() -> list[ServiceStatus]:
    """Running state, pid, address and details of every service, in SERVICES order."""
    return [_status(service) for service in _select(None, SERVICES)]


def env_exports() -> str:
    """Shell `export` lines for every setting (current value) plus DAGSTER_HOME.

    Meant for `eval "$(file-pipeline stack env)"`.
    """
    lines = [f"export {var.name}={shlex.quote(var.value())}" for var in settings.ALL_ENV_VARS]
    dagster_home = os.environ.get("DAGSTER_HOME") or str(paths.repo_root() / "dagster_home")
    lines.append(f"export DAGSTER_HOME={shlex.quote(dagster_home)}")
    return "\n".join(lines) + "\n"
