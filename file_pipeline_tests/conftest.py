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
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from file_pipeline import settings

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
