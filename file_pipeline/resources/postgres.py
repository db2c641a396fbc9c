"""The application database (PostgreSQL): `files`, the outbox, processing results and outputs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
from pydantic import Field

from file_pipeline.db.migrate import apply_migrations, check_schema


class PostgresResource(dg.ConfigurableResource):
    """Opens short-lived psycopg connections to the application database.

    Connections are opened per unit of work (a batch), never at import or definition time.
    `connection()` commits on success and rolls back on error, so a `files` row and its outbox
    row either both exist or neither does. Migrations are deploy-time work (`file-pipeline db
    migrate`, `stack up`); a run only checks, once per process, that the schema is recent enough.
    """

    database_url: str = Field(
        description="libpq URL of the application database, e.g. postgresql://u:p@host:5432/db."
    )
    connect_timeout_seconds: int = Field(default=10, description="Connection timeout.")

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection (committed on success, rolled back on error). The first one in a process
        fails, with the command to run, if the schema is older than this code."""
        check_schema(self.database_url, self.connect_timeout_seconds)
        with psycopg.connect(
            self.database_url, connect_timeout=self.connect_timeout_seconds
        ) as conn:
            yield conn

    def migrate(self) -> list[str]:
        """Apply pending schema migrations; returns the names applied now."""
        return [f"{m.version:04d}_{m.name}" for m in apply_migrations(self.database_url)]
