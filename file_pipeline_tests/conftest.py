"""Shared fixtures. The real stack (PostgreSQL, Kafka, MinIO, ClamAV) is started once per session
by the project's own `file_pipeline.stack.up()`; nothing is mocked.

Each session gets its own application database, Dagster database, bucket, topics (events, dead
letters, notifications), spool and DAGSTER_HOME (`file_pipeline.sandbox`, which the benchmarks
use too), so tests see exactly the rows, objects and events they create, and the user's data on
the same stack is left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient

from file_pipeline import settings
from file_pipeline.cli.runtime import Resources, free_port, load_definitions, open_resources
from file_pipeline.resources import KafkaResource, ObjectStorageResource, PostgresResource
from file_pipeline.sandbox import isolated_environment
from file_pipeline_tests.helpers import REPOSITORY_QUERY, Pipeline, graphql

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def stack() -> None:
    """The local services, started (or found running) once per session."""
    from file_pipeline import stack as local_stack

    local_stack.up(echo=lambda line: None)


@pytest.fixture(scope="session")
def pipeline_env(stack: None) -> Iterator[dict[str, str]]:
    """This session's environment on the real stack (started if needed).

    Sensor ticks evaluated in the test process return at once when there is nothing new
    (FILE_EVENTS_WAIT_SECONDS=0), as `Pipeline.drain` expects; daemons started by
    `services.daemon_environment` wait as deployed.
    """
    saved = os.environ.get(settings.FILE_EVENTS_WAIT_SECONDS.name)
    os.environ[settings.FILE_EVENTS_WAIT_SECONDS.name] = "0"
    try:
        with isolated_environment("test") as env:
            yield env
    finally:
        if saved is None:
            os.environ.pop(settings.FILE_EVENTS_WAIT_SECONDS.name, None)
        else:
            os.environ[settings.FILE_EVENTS_WAIT_SECONDS.name] = saved


@pytest.fixture(scope="session")
def resources(pipeline_env: dict[str, str]) -> Iterator[Resources]:
    """The resources a run of this session gets (schema, bucket and topics exist)."""
    with open_resources() as built:
        yield built


@pytest.fixture(scope="session")
def storage(resources: Resources) -> ObjectStorageResource:
    return resources.storage


@pytest.fixture(scope="session")
def postgres(resources: Resources) -> PostgresResource:
    return resources.postgres


@pytest.fixture(scope="session")
def kafka(resources: Resources) -> KafkaResource:
    return resources.kafka


@pytest.fixture(scope="session")
def instance(pipeline_env: dict[str, str]) -> Iterator[dg.DagsterInstance]:
    """The Dagster instance of this session: PostgreSQL storage, as in dagster_home/dagster.yaml."""
    with dg.DagsterInstance.get() as inst:
        yield inst


@pytest.fixture(scope="session")
def definitions(pipeline_env: dict[str, str]) -> dg.Definitions:
    return load_definitions()


@pytest.fixture(scope="session")
def session_pipeline(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    kafka: KafkaResource,
    postgres: PostgresResource,
) -> Pipeline:
    """One sensor cursor for the session's topic, shared by every test that drives it."""
    return Pipeline(definitions, instance, kafka, postgres)


@pytest.fixture
def pipeline(session_pipeline: Pipeline) -> Iterator[Pipeline]:
    """The session's pipeline, past whatever earlier tests left on the topic."""
    session_pipeline.drain()
    yield session_pipeline
    session_pipeline.run_config = {}


@dataclass
class DagsterDev:
    """A running `dagster dev` (webserver + daemon) on this session's instance."""

    url: str
    client: DagsterGraphQLClient


@pytest.fixture(scope="session")
def dagster_dev(
    pipeline_env: dict[str, str], resources: Resources, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DagsterDev]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("dagster_dev") / "dagster-dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dagster")),
                "dev",
                "-w",
                str(PROJECT_ROOT / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=PROJECT_ROOT,
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while True:
        try:
            graphql(url, REPOSITORY_QUERY)
            break
        except OSError as exc:  # not serving yet
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                tail = log.read_text()[-3000:]
                raise AssertionError(f"dagster dev did not come up: {tail}") from exc
            time.sleep(1)
    try:
        yield DagsterDev(url, DagsterGraphQLClient("127.0.0.1", port_number=port))
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
