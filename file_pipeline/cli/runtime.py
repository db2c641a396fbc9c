"""Glue between the terminal and Dagster: the instance, the resources, in-process job launches and
the daemon for the demo.

Runs launched here are recorded in the same Dagster instance (`DAGSTER_HOME`) that `dagster dev`
shows, so an upload from the terminal appears in the UI's run history. Resources come from
`defs/resources.py` (the one place they are bound), resolved through `dg.build_resources`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from file_pipeline import settings
from file_pipeline.errors import CodeServerError
from file_pipeline.resources import (
    ClamAVResource,
    KafkaResource,
    ObjectStorageResource,
    PostgresResource,
    ProcessingResource,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DAGSTER_HOME = PROJECT_ROOT / "dagster_home"
QUIET_LOGGER = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def apply_env_defaults() -> None:
    """Fill unset configuration variables with the local stack's defaults."""
    for var in settings.ALL_ENV_VARS:
        os.environ.setdefault(var.name, var.default)
    os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME))


@dataclass(frozen=True)
class Resources:
    storage: ObjectStorageResource
    postgres: PostgresResource
    kafka: KafkaResource
    clamav: ClamAVResource
    processing: ProcessingResource


@contextmanager
def open_resources() -> Iterator[Resources]:
    """The resources a run would get, configured from the environment."""
    from file_pipeline.defs.resources import resource_defs

    apply_env_defaults()
    with dg.build_resources(resource_defs()) as built:
        yield Resources(built.storage, built.postgres, built.kafka, built.clamav, built.processing)


def prepare_services() -> dict[str, list[str]]:
    """Deploy-time setup, all idempotent: apply migrations, create the bucket and the topics,
    and set the concurrency pools' limits on the Dagster instance."""
    with open_resources() as resources:
        migrations = resources.postgres.migrate()
        resources.storage.ensure_bucket()
        topics = resources.kafka.ensure_topics()
    with get_instance() as instance:
        pools = apply_pool_limits(
            instance, settings.pool_limits(settings.CONCURRENCY_POOLS.value())
        )
    return {"migrations": migrations, "topics": topics, "pools": pools}


def apply_pool_limits(instance: dg.DagsterInstance, limits: dict[str, int]) -> list[str]:
    """Give each pool its limit (what `dagster instance concurrency set POOL N` does); Dagster
    1.13 takes only a default limit in dagster.yaml, not one per pool."""
    for pool, limit in limits.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return [f"{pool}={limit}" for pool, limit in limits.items()]


def load_definitions() -> dg.Definitions:
    from file_pipeline.definitions import defs

    return defs()


def get_instance() -> dg.DagsterInstance:
    apply_env_defaults()
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def run_job(
    job_name: str,
    run_config: dict[str, Any],
    instance: dg.DagsterInstance,
    *,
    tags: dict[str, str] | None = None,
    asset_selection: list[dg.AssetKey] | None = None,
) -> dg.ExecuteInProcessResult:
    """Execute a job in this process, recorded in `instance` (so it shows in the UI)."""
    job = load_definitions().resolve_job_def(job_name)
    return job.execute_in_process(
        run_config={**run_config, **QUIET_LOGGER},
        instance=instance,
        raise_on_error=False,
        tags={"file_pipeline/launched_by": "cli", **(tags or {})},
        asset_selection=asset_selection,
    )


def run_upload(
    paths: list[str], uploaded_by: str, description: str | None, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    config: dict[str, Any] = {"paths": paths, "uploaded_by": uploaded_by}
    if description is not None:
        config["description"] = description
    return run_job("upload_files", {"ops": {"uploaded_files": {"config": config}}}, instance)


def run_delete(file_ids: list[str], instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return run_job(
        "delete_files", {"ops": {"deleted_files": {"config": {"file_ids": file_ids}}}}, instance
    )


CODE_SERVER_START_TIMEOUT_SECONDS = 120.0


@contextmanager
def dagster_daemon(log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `dagster-daemon` (sensors, run queue, retries) for the duration of the block, with a
    gRPC code server of its own started first, as `dagster dev` and a deployment do.

    A daemon given `workspace.yaml` directly manages the code server itself, and Dagster's
    daemon replaces that server every 60 seconds (`RELOAD_WORKSPACE_INTERVAL`: each refresh
    clears its endpoints, so the next call starts a new process that imports Dagster and loads
    the definitions again, about 2 CPU seconds a minute on this project's machine). Pointed at
    a running server (`grpc_server` in a workspace file of its own), its refresh only asks that
    server for the definitions again. The yielded process is the daemon's; the code server and
    the runs are in its process group and stop with it.
    """
    apply_env_defaults()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    location = workspace_location()
    workspace = log_path.with_name(f"{log_path.stem}-workspace.yaml")
    workspace.write_text(
        "load_from:\n"
        f"  - grpc_server:\n      host: localhost\n      port: {port}\n"
        f"      location_name: {location['location_name']}\n"
    )
    bin_dir = Path(sys.executable).parent
    with log_path.open("ab") as log:
        server = subprocess.Popen(
            [
                str(bin_dir / "dagster"),
                *("api", "grpc", "--module-name", location["module_name"]),
                *("--location-name", location["location_name"]),
                *("--host", "localhost", "--port", str(port)),
            ],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            process_group=0,  # leads a group of its own, which the daemon joins
        )
        group = server.pid
        try:
            _wait_for_code_server(server, port, log_path)
            proc = subprocess.Popen(
                [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)],
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                process_group=group,
            )
        except BaseException:
            _stop_group(group, server)
            raise
    try:
        yield proc
    finally:
        _stop_group(group, proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=10)


def workspace_location() -> dict[str, str]:
    """The code location `workspace.yaml` loads (`module_name`, `location_name`): the code server
    started for a daemon serves the same one."""
    workspace = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    return entry["python_module"]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_code_server(server: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    """Until the server listens: it opens its port once the definitions are loaded."""
    deadline = time.monotonic() + CODE_SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CodeServerError(f"the code server exited {server.returncode} (log: {log_path})")
        with contextlib.suppress(OSError), socket.create_connection(("localhost", port), 1.0):
            return
        time.sleep(0.2)
    raise CodeServerError(
        f"the code server did not listen on port {port} within "
        f"{CODE_SERVER_START_TIMEOUT_SECONDS:g} s (log: {log_path})"
    )


def _stop_group(group: int, leader: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (code server, daemon, runs), then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    try:
        leader.wait(timeout=30)
    except subprocess.TimeoutExpired:
        leader.kill()
        leader.wait(timeout=10)
    time.sleep(1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
