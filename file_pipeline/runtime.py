"""Glue for the CLI: the Dagster instance, in-process job launches and the daemon for the demo.

Runs launched here are recorded in the same Dagster instance (`DAGSTER_HOME`) that `dagster dev`
shows, so an upload from the terminal appears in the UI's run history.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from file_pipeline import settings
from file_pipeline.resources import KafkaResource, ObjectStorageResource, PostgresResource

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STEP_ORDER = ("virus_scan", "exif_metadata", "thumbnails", "search_index", "notifications")
DEFAULT_DAGSTER_HOME = PROJECT_ROOT / "dagster_home"


def apply_env_defaults() -> None:
    """Fill unset configuration variables with the local stack's defaults."""
    for var in settings.ALL_ENV_VARS:
        os.environ.setdefault(var.name, var.default)
    os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME))


def build_resources() -> tuple[ObjectStorageResource, PostgresResource, KafkaResource]:
    """Resources configured from the environment, for use outside a Dagster run."""
    apply_env_defaults()
    storage = ObjectStorageResource(
        endpoint_url=settings.S3_ENDPOINT_URL.value() or None,
        aws_access_key_id=settings.AWS_ACCESS_KEY_ID.value(),
        aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY.value(),
        region_name=settings.AWS_REGION.value(),
        bucket=settings.S3_BUCKET.value(),
    )
    postgres = PostgresResource(database_url=settings.DATABASE_URL.value())
    kafka = KafkaResource(
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS.value(),
        file_events_topic=settings.FILE_EVENTS_TOPIC.value(),
        notifications_topic=settings.FILE_NOTIFICATIONS_TOPIC.value(),
    )
    return storage, postgres, kafka


def prepare_services() -> dict[str, list[str]]:
    """Apply migrations, create the bucket and the topics (all idempotent)."""
    storage, postgres, kafka = build_resources()
    migrations = postgres.migrate()
    storage.ensure_bucket()
    topics = kafka.ensure_topics()
    return {"migrations": migrations, "topics": topics}


def load_definitions() -> dg.Definitions:
    from file_pipeline.definitions import defs

    return defs()


def get_instance() -> dg.DagsterInstance:
    apply_env_defaults()
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def run_upload(
    paths: list[str], uploaded_by: str, description: str | None, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    """Execute the `upload_files` job in this process, recorded in `instance`."""
    job = load_definitions().resolve_job_def("upload_files")
    config = {"paths": paths, "uploaded_by": uploaded_by}
    if description is not None:
        config["description"] = description
    return job.execute_in_process(
        run_config={
            "ops": {"uploaded_files": {"config": config}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
        instance=instance,
        raise_on_error=False,
        tags={"file_pipeline/launched_by": "cli"},
    )


def run_delete(file_ids: list[str], instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Execute the `delete_files` job in this process, recorded in `instance`."""
    job = load_definitions().resolve_job_def("delete_files")
    return job.execute_in_process(
        run_config={
            "ops": {"deleted_files": {"config": {"file_ids": file_ids}}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
        instance=instance,
        raise_on_error=False,
        tags={"file_pipeline/launched_by": "cli"},
    )


@contextmanager
def dagster_daemon(log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `dagster-daemon` (sensors, run queue) for the duration of the block."""
    apply_env_defaults()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dagster-daemon")),
                "run",
                "-w",
                str(PROJECT_ROOT / "workspace.yaml"),
            ],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def wait_for_results(
    postgres: PostgresResource,
    file_ids: list[str],
    step: str,
    timeout_seconds: float,
    daemon: subprocess.Popen[bytes] | None = None,
) -> dict[str, tuple[str, str | None]]:
    """Poll until every file has an outcome for `step`; returns {file id: (outcome, detail)}."""
    deadline = time.monotonic() + timeout_seconds
    results: dict[str, tuple[str, str | None]] = {}
    while time.monotonic() < deadline:
        with postgres.connection() as conn:
            rows = conn.execute(
                "SELECT file_id, outcome, detail FROM processing_results"
                " WHERE step = %s AND file_id = ANY(%s)",
                (step, file_ids),
            ).fetchall()
        results = {row[0]: (row[1], row[2]) for row in rows}
        if len(results) == len(file_ids):
            break
        if daemon is not None and daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited with code {daemon.returncode}")
        time.sleep(1)
    return results
