"""The application database (PostgreSQL): `files`, the outbox and processing results."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
from pydantic import Field

from file_pipeline.db.migrate import apply_migrations


class PostgresResource(dg.ConfigurableResource):
    """Opens short-lived psycopg connections to the application database.

    Connections are opened per unit of work (a batch), never at import or definition time.
    `connection()` commits on success and rolls back on error, so a `files` row and its outbox
    row either both exist or neither does.
    """

    database_url: str = Field(
        description="libpq URL of the application database, e.g. postgresql://u:p@host:5432/db."
    )
    connect_timeout_seconds: int = Field(default=10, description="Connection timeout.")

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(
            self.database_url, connect_timeout=self.connect_timeout_seconds
        ) as conn:
            yield conn

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Bring the schema up to date before a run or sensor tick uses the database."""
        self.migrate()

    def migrate(self) -> list[str]:
        """Apply pending schema migrations; returns the names applied now."""
        return [f"{m.version:04d}_{m.name}" for m in apply_migrations(self.database_url)]
