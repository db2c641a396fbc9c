"""An isolated environment on the local stack, for the test suite and the benchmarks: databases, a
bucket, every topic (events, dead letters, notifications), a spool and a DAGSTER_HOME of its own,
set in `os.environ` for the duration and removed afterwards. The contract names (`files`,
`file-events`, ...) stay the same; only the instances differ, so the user's data on the same
stack is never touched and a test sees exactly what it creates.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from file_pipeline import settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _admin_url() -> str:
    return settings.DATABASE_URL.default.rsplit("/", 1)[0] + "/postgres"


@contextlib.contextmanager
def isolated_environment(label: str) -> Iterator[dict[str, str]]:
    """Start the stack if needed, then create and enter a fresh environment named after `label`;
    yields the variables it set."""
    from file_pipeline import stack
    from file_pipeline.cli.runtime import apply_env_defaults, open_resources, prepare_services

    stack.up(echo=lambda line: None)
    tag = f"{label}_{uuid.uuid4().hex[:8]}"
    databases = [f"fp_{tag}", f"fp_{tag}_dagster"]
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        for name in databases:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    home = Path(tempfile.mkdtemp(prefix=f"fp-{label}-home-"))
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    dashed = tag.replace("_", "-")
    env = {
        "DATABASE_URL": f"{settings.DATABASE_URL.default.rsplit('/', 1)[0]}/{databases[0]}",
        # Through the stack's PgBouncer, as the default DAGSTER_PG_URL is.
        "DAGSTER_PG_URL": f"{settings.DAGSTER_PG_URL.default.rsplit('/', 1)[0]}/{databases[1]}",
        "S3_BUCKET": f"fp-{dashed}",
        "FILE_EVENTS_TOPIC": f"file-events-{dashed}",
        "FILE_NOTIFICATIONS_TOPIC": f"file-notifications-{dashed}",
        "SPOOL_DIR": str(home / "spool"),
        "DAGSTER_HOME": str(home),
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    apply_env_defaults()
    try:
        prepare_services()
        yield env
    finally:
        with contextlib.suppress(Exception), open_resources() as resources:
            resources.kafka.delete_topics()
            resources.storage.delete_bucket()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        with psycopg.connect(_admin_url(), autocommit=True) as conn:
            for name in databases:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        shutil.rmtree(home, ignore_errors=True)
