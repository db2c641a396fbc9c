"""Versioned schema migrations: `db/migrations/NNNN_name.sql`, applied in order, each once.

`apply_migrations` is what `file-pipeline db migrate` and `file-pipeline stack up` call (deploy
time). A session-level advisory lock lets several processes call it at once safely. Runs and
sensor ticks never apply DDL: `check_schema` only reads the applied version, once per process.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from importlib import resources

import psycopg

from file_pipeline.errors import SchemaOutOfDateError

_LOCK_ID = 0x46504D47  # "FPMG": one lock id for every migration run of this project.
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    folder = resources.files("file_pipeline.db") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {folder}: {versions}")
    return found


def apply_migrations(database_url: str) -> list[Migration]:
    """Apply every migration not yet applied; return those applied now."""
    applied_now: list[Migration] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for migration in available_migrations():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                applied_now.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now


_checked: set[str] = set()
_checked_lock = threading.Lock()


def latest_version() -> int:
    return max(m.version for m in available_migrations())


def check_schema(database_url: str, connect_timeout: int = 10) -> None:
    """Raise SchemaOutOfDateError unless every migration this code knows is applied.

    Checked once per process and database (a run or a daemon), with one cheap query.
    """
    with _checked_lock:
        if database_url in _checked:
            return
    needed = latest_version()
    with psycopg.connect(database_url, connect_timeout=connect_timeout) as conn:
        applied = 0
        if _has_table(conn):
            applied = conn.execute(
                "SELECT coalesce(max(version), 0) FROM schema_migrations"
            ).fetchone()[0]
        database = conn.info.dbname
    if applied < needed:
        raise SchemaOutOfDateError(database, applied, needed)
    with _checked_lock:
        _checked.add(database_url)


def _has_table(conn: psycopg.Connection) -> bool:
    found = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    return found is not None and found[0] is not None
