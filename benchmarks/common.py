"""An isolated environment on the local stack for one benchmark run: its own application and
Dagster databases, bucket, topics and DAGSTER_HOME, set in os.environ and removed afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from file_pipeline import settings, stack
from file_pipeline.runtime import PROJECT_ROOT, build_resources, prepare_services


@contextlib.contextmanager
def isolated_environment() -> Iterator[str]:
    stack.up(echo=lambda line: None)
    tag = uuid.uuid4().hex[:8]
    base = settings.DATABASE_URL.default.rsplit("/", 1)[0]
    databases = [f"fp_bench_{tag}", f"fp_bench_dagster_{tag}"]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        for name in databases:
            conn.execute(f'CREATE DATABASE "{name}"')
    home = Path(tempfile.mkdtemp(prefix="fp-bench-home-"))
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DATABASE_URL": f"{base}/{databases[0]}",
        "DAGSTER_PG_URL": f"{base}/{databases[1]}",
        "S3_BUCKET": f"fp-bench-{tag}",
        "FILE_EVENTS_TOPIC": f"file-events-bench-{tag}",
        "FILE_NOTIFICATIONS_TOPIC": f"file-notifications-bench-{tag}",
        "DAGSTER_HOME": str(home),
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    prepare_services()
    try:
        yield tag
    finally:
        storage, _, kafka = build_resources()
        client = storage.get_client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=storage.bucket, Delete={"Objects": keys})
        client.delete_bucket(Bucket=storage.bucket)
        topics = [kafka.file_events_topic, kafka.dead_letter_topic, kafka.notifications_topic]
        for future in kafka.admin().delete_topics(topics).values():
            with contextlib.suppress(Exception):
                future.result(timeout=30)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            for name in databases:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(home, ignore_errors=True)
