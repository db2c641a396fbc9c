"""PgBouncer from Debian's packages, pooling connections to the local cluster on localhost:6432.

Dagster's Postgres storage opens a new connection for nearly every call (SQLAlchemy's NullPool):
an idle daemon and its code server open about 23 a second, a processing run's steps and the
sensor ticks beside it about 35. Each one made PostgreSQL fork and initialise a backend, about
6 ms of CPU on this project's 2-core machine, a tenth of a core under load. Through PgBouncer a
connection costs about 1 ms: the backend stays open and is handed to the next client.

Session pooling, so every client keeps everything PostgreSQL gives a session (LISTEN, SET,
prepared statements, advisory locks) for as long as it is connected; the server connection is
reset (`DISCARD ALL`) before it serves another client. Any database name is forwarded to the
cluster (`*`), so the test suite's per-session databases need no configuration. DAGSTER_PG_URL
points here by default; the application (DATABASE_URL) keeps its direct connections, which it
holds for a whole step. Like the cluster, PgBouncer listens on loopback only and trusts local
clients; it runs as the cluster's OS user (it refuses to run as root).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from file_pipeline import settings
from file_pipeline.stack.base import Service
from file_pipeline.stack.errors import InstallError
from file_pipeline.stack.postgres import answers, cluster_os_user
from file_pipeline.stack.process import Echo, Launch, apt_install, user_ids, which

BINARY_DIRS = ("/usr/sbin",)
USERS_FILE = "userlist.txt"
POOL_SETTINGS = {
    "pool_mode": "session",
    "max_client_conn": "1000",
    "default_pool_size": "40",
    # Server connections in all, below the cluster's max_connections (200): the rest are the
    # application's, which connects directly.
    "max_user_connections": "120",
    # Idle server connections of a dropped test database are not kept for long.
    "server_idle_timeout": "60",
    # psycopg2 and JDBC send it; PgBouncer refuses unknown startup parameters.
    "ignore_startup_parameters": "extra_float_digits",
    # Two lines per Dagster storage call otherwise.
    "log_connections": "0",
    "log_disconnections": "0",
}


def config_text(data_dir: Path) -> str:
    """pgbouncer.ini for the local cluster: every database, loopback only, session pooling."""
    lines = [
        "; Written by `file-pipeline stack up` on every start (file_pipeline/stack/pgbouncer.py).",
        "[databases]",
        f"* = host=127.0.0.1 port={settings.POSTGRES_PORT}",
        "",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {settings.PGBOUNCER_PORT}",
        "unix_socket_dir =",
        "auth_type = trust",
        f"auth_file = {data_dir / USERS_FILE}",
        *(f"{key} = {value}" for key, value in POOL_SETTINGS.items()),
    ]
    return "\n".join(lines) + "\n"


class PgBouncer(Service):
    """PgBouncer in front of the local PostgreSQL cluster (see the module docstring)."""

    name = "pgbouncer"
    ports = (settings.PGBOUNCER_PORT,)
    start_timeout = 30.0

    @property
    def os_user(self) -> str | None:
        return cluster_os_user()

    @property
    def config_path(self) -> Path:
        return self.data_dir / "pgbouncer.ini"

    def binary(self) -> str | None:
        return which("pgbouncer", *BINARY_DIRS)

    def install(self, echo: Echo) -> None:
        if self.binary() is None:
            apt_install(["pgbouncer"], service=self.name, echo=echo)

    def prepare(self, echo: Echo) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        users = self.data_dir / USERS_FILE
        self.config_path.write_text(config_text(self.data_dir))
        users.write_text(f'"{settings.POSTGRES_USER}" ""\n')  # trust: the name must be listed
        if self.os_user is not None:
            uid, gid = user_ids(self.os_user)
            for path in (self.data_dir, self.config_path, users):
                os.chown(path, uid, gid)

    def launch(self) -> Launch:
        binary = self.binary()
        if binary is None:
            raise InstallError(
                "pgbouncer is not installed (Debian package pgbouncer)", service=self.name
            )
        return Launch(argv=[binary, str(self.config_path)], cwd=self.data_dir, user=self.os_user)

    def ready(self) -> bool:
        """Whether a query through PgBouncer reaches the cluster."""
        return answers(settings.PGBOUNCER_PORT)

    def detail(self) -> str:
        binary = self.binary()
        if binary is None:
            return "PgBouncer (not installed)"
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
        version = result.stdout.splitlines()[0] if result.stdout else "PgBouncer"
        return f"{version}, session pooling to localhost:{settings.POSTGRES_PORT}"
