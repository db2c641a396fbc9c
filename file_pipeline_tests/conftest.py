"""Shared fixtures. The real stack (PostgreSQL, Kafka, MinIO, ClamAV) is started once per session
by the project's own `file_pipeline.stack.up()`; nothing is mocked.

Each session gets its own application database, Dagster database, bucket and topic, so tests see
exactly the rows, objects and events they create, and the user's data on the same stack is left
alone. The contract names (`files`, `file-events`, ...) are the same; only the instances differ.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dagster_graphql import DagsterGraphQLClient

from file_pipeline import settings
from file_pipeline_tests.helpers import REPOSITORY_QUERY

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SESSION_ID = uuid.uuid4().hex[:8]


def _admin_url() -> str:
    return settings.DATABASE_URL.default.rsplit("/", 1)[0] + "/postgres"


@pytest.fixture(scope="session")
def stack() -> None:
    """The local services, started (or found running) once per session."""
    from file_pipeline import stack as local_stack

    local_stack.up(echo=lambda line: None)


@pytest.fixture(scope="session")
def pipeline_env(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment for this session: fresh databases, bucket and topic on the real stack."""
    app_db = f"fp_test_{SESSION_ID}"
    dagster_db = f"fp_dagster_test_{SESSION_ID}"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        for name in (app_db, dagster_db):
            conn.execute(f'CREATE DATABASE "{name}"')
    base = settings.DATABASE_URL.default.rsplit("/", 1)[0]
    dagster_home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        "DATABASE_URL": f"{base}/{app_db}",
        "DAGSTER_PG_URL": f"{base}/{dagster_db}",
        "S3_BUCKET": f"fp-test-{SESSION_ID}",
        "FILE_EVENTS_TOPIC": f"file-events-test-{SESSION_ID}",
        "DAGSTER_HOME": str(dagster_home),
    }
    for var in settings.ALL_ENV_VARS:
        os.environ.setdefault(var.name, var.default)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        with psycopg.connect(_admin_url(), autocommit=True) as conn:
            for name in (app_db, dagster_db):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _delete_topics(env["FILE_EVENTS_TOPIC"])
        _delete_bucket(env["S3_BUCKET"])


def _delete_topics(topic: str) -> None:
    from file_pipeline.runtime import build_resources

    _, _, kafka = build_resources()
    admin = kafka.admin()
    for future in admin.delete_topics([topic, settings.dead_letter_topic(topic)]).values():
        with contextlib.suppress(Exception):  # a test may never have created the topic
            future.result(timeout=30)


def _delete_bucket(bucket: str) -> None:
    from file_pipeline.runtime import build_resources

    storage, _, _ = build_resources()
    client = storage.get_client()
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        client.delete_bucket(Bucket=bucket)
    except client.exceptions.NoSuchBucket:
        pass


@pytest.fixture(scope="session")
def resources(pipeline_env: dict[str, str]):  # noqa: ANN201 - tuple of the three resources
    """(storage, postgres, kafka) configured for this session, with schema, bucket and topics."""
    from file_pipeline.runtime import build_resources, prepare_services

    prepare_services()
    return build_resources()


@pytest.fixture(scope="session")
def storage(resources):  # noqa: ANN001, ANN201
    return resources[0]


@pytest.fixture(scope="session")
def postgres(resources):  # noqa: ANN001, ANN201
    return resources[1]


@pytest.fixture(scope="session")
def kafka(resources):  # noqa: ANN001, ANN201
    return resources[2]


@pytest.fixture(scope="session")
def instance(pipeline_env: dict[str, str]):  # noqa: ANN201
    """The Dagster instance of this session: PostgreSQL storage, as in dagster_home/dagster.yaml."""
    import dagster as dg

    with dg.DagsterInstance.get() as inst:
        yield inst


@pytest.fixture(scope="session")
def definitions(pipeline_env: dict[str, str]):  # noqa: ANN201
    from file_pipeline.runtime import load_definitions

    return load_definitions()


@dataclass
class DagsterDev:
    """A running `dagster dev` (webserver + daemon) on this session's instance."""

    url: str
    client: Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def dagster_dev(pipeline_env, resources, tmp_path_factory) -> Iterator[DagsterDev]:  # noqa: ANN001
    port = _free_port()
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
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    deadline = time.monotonic() + 120
    while True:
        try:
            client._execute(REPOSITORY_QUERY)
            break
        except Exception as exc:  # noqa: BLE001 - not serving yet
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                tail = log.read_text()[-3000:]
                raise AssertionError(f"dagster dev did not come up: {tail}") from exc
            time.sleep(1)
    try:
        yield DagsterDev(f"http://127.0.0.1:{port}", client)
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
