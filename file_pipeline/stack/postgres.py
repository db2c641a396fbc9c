"""PostgreSQL from Debian's packages, run as a private cluster on localhost:5432.

initdb/postgres refuse to run as root, so as root the cluster belongs to the `postgres` OS user
(created by the Debian package); as any other user it belongs to that user. Debian's own `main`
cluster is left alone; if it (or anything else) holds port 5432, `up` reports it instead of
fighting over the port.

Client authentication comes from a file the stack writes on every start (`hba_file`), not from
the cluster's own `pg_hba.conf`: loopback and Unix-socket connections are trusted. The cluster
listens on localhost only and its socket (trusted by initdb's own default) is open to every local
user, so trusting 127.0.0.1 grants nothing more; what it saves is SCRAM's key derivation on
every connection. Dagster's Postgres storage opens a new connection for nearly every call
(SQLAlchemy's NullPool), and with SCRAM each one cost about 2.3 ms of client CPU and as much on
the server: the daemon spent a fifth of a core on it during a processing run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from file_pipeline import settings
from file_pipeline.stack import paths
from file_pipeline.stack.base import Service
from file_pipeline.stack.errors import InstallError
from file_pipeline.stack.process import Echo, Launch, apt_install, run_logged, user_ids

if TYPE_CHECKING:
    import psycopg

PG_ROOT = Path("/usr/lib/postgresql")
OS_USER = "postgres"
SERVER_SETTINGS = {
    "listen_addresses": "localhost",
    "shared_buffers": "128MB",
    "max_connections": "200",
}

HBA_RULES = """\
# Written by `file-pipeline stack up` on every start (see file_pipeline/stack/postgres.py).
# The cluster listens on localhost only; local connections are trusted.
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
host    all          all   ::1/128       trust
local   replication  all                 trust
host    replication  all   127.0.0.1/32  trust
host    replication  all   ::1/128       trust
"""


def cluster_os_user() -> str | None:
    """The user the cluster (and PgBouncer) runs as: `postgres` when we are root, else ourselves
    (None)."""
    return OS_USER if paths.is_root() else None


def installed_versions() -> list[int]:
    """Major versions that have a server binary under /usr/lib/postgresql, highest first."""
    versions = [
        int(child.name)
        for child in PG_ROOT.glob("*")
        if child.name.isdigit() and (child / "bin" / "postgres").is_file()
    ]
    return sorted(versions, reverse=True)


class Postgres(Service):
    """A private PostgreSQL cluster with the app and Dagster databases."""

    name = "postgres"
    ports = (settings.POSTGRES_PORT,)
    stop_signal = signal.SIGINT  # "fast" shutdown: does not wait for clients to disconnect
    start_timeout = 60.0

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return paths.run_dir() / "postgres"

    @property
    def os_user(self) -> str | None:
        return cluster_os_user()

    def version(self) -> int:
        """The major version to run: the cluster's own once initialised, else the highest."""
        versions = installed_versions()
        if not versions:
            raise InstallError(
                "PostgreSQL server is not installed (no /usr/lib/postgresql/*/bin/postgres)",
                service=self.name,
            )
        pg_version = self.pgdata / "PG_VERSION"
        if pg_version.is_file():
            wanted = int(pg_version.read_text().strip())
            if wanted not in versions:
                raise InstallError(
                    f"the cluster in {self.pgdata} was created by PostgreSQL {wanted}, which is "
                    f"not installed (have {versions}); install `postgresql-{wanted}` or move the "
                    "directory away to start from an empty cluster",
                    service=self.name,
                )
            return wanted
        return versions[0]

    def bin(self, program: str) -> str:
        return str(PG_ROOT / str(self.version()) / "bin" / program)

    def install(self, echo: Echo) -> None:
        if not installed_versions():
            apt_install(["postgresql"], service=self.name, echo=echo)
        if paths.is_root():
            self._ensure_os_user(echo)

    def _ensure_os_user(self, echo: Echo) -> None:
        try:
            user_ids(OS_USER)
        except KeyError:
            echo(f"{self.name}: creating system user {OS_USER}")
            subprocess.run(
                ["useradd", "--system", "--user-group", "--no-create-home", OS_USER], check=True
            )

    def _own(self, path: Path, mode: int) -> None:
        """Give `path` to the cluster's OS user (when root) with `mode`."""
        path.mkdir(parents=True, exist_ok=True)
        if self.os_user is not None:
            uid, gid = user_ids(self.os_user)
            os.chown(path, uid, gid)
        path.chmod(mode)

    def _check_traversable(self) -> None:
        """As root, every parent of the data dir must be enterable by the `postgres` user."""
        if self.os_user is None:
            return
        uid, gid = user_ids(self.os_user)
        for parent in self.data_dir.parents:
            st = parent.stat()
            ok = (
                st.st_mode & 0o001
                or (st.st_uid == uid and st.st_mode & 0o100)
                or (st.st_gid == gid and st.st_mode & 0o010)
            )
            if not ok:
                raise InstallError(
                    f"the `{self.os_user}` user cannot enter {parent}, a parent of the data "
                    f"directory {self.data_dir}; point {paths.DATA_DIR_ENV} at a directory outside "
                    f"it (default for root: /var/lib/file-pipeline) or `chmod o+x {parent}`",
                    service=self.name,
                )

    def prepare(self, echo: Echo) -> None:
        self._check_traversable()
        self._own(self.data_dir, 0o700)
        self._own(self.socket_dir, 0o755)
        self._write_hba_file()
        if (self.pgdata / "PG_VERSION").is_file():
            return
        echo(f"{self.name}: initialising a new cluster in {self.pgdata}")
        self.start_timeout = 120.0
        pwfile = self.socket_dir / "initdb.pw"
        pwfile.write_text(settings.POSTGRES_PASSWORD + "\n")
        if self.os_user is not None:
            uid, gid = user_ids(self.os_user)
            os.chown(pwfile, uid, gid)
        pwfile.chmod(0o600)
        try:
            run_logged(
                [
                    self.bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    settings.POSTGRES_USER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                service=self.name,
                what="initdb",
                log_path=self.log_path,
                cwd=self.data_dir,
                user=self.os_user,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    @property
    def hba_file(self) -> Path:
        return self.data_dir / "pg_hba.conf"

    def _write_hba_file(self) -> None:
        self.hba_file.write_text(HBA_RULES)
        if self.os_user is not None:
            uid, gid = user_ids(self.os_user)
            os.chown(self.hba_file, uid, gid)
        self.hba_file.chmod(0o600)

    def launch(self) -> Launch:
        argv = [
            self.bin("postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(settings.POSTGRES_PORT),
            "-k",
            str(self.socket_dir),
        ]
        for key, value in SERVER_SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        argv += ["-c", f"hba_file={self.hba_file}"]
        return Launch(argv=argv, cwd=self.data_dir, user=self.os_user)

    def ready(self) -> bool:
        return answers(settings.POSTGRES_PORT)

    def after_start(self, echo: Echo) -> None:
        """Create the application and Dagster databases if they do not exist yet: those the
        configuration names (DATABASE_URL, DAGSTER_PG_URL) when they live on this cluster."""
        from psycopg import sql

        with connect(settings.POSTGRES_PORT) as conn:
            for database in local_databases():
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
                ).fetchone()
                if not exists:
                    echo(f"{self.name}: creating database {database}")
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))

    def detail(self) -> str:
        try:
            version = f"PostgreSQL {server_version(self.bin('postgres'))}"
        except InstallError:
            version = "PostgreSQL (not installed)"
        owner = f", runs as {self.os_user}" if self.os_user else ""
        return f"{version}, data {self.pgdata}{owner}"


def connect(port: int, database: str = "postgres") -> psycopg.Connection:
    """An autocommit connection as the stack's user to the cluster (POSTGRES_PORT) or through
    the stack's PgBouncer (PGBOUNCER_PORT)."""
    import psycopg

    return psycopg.connect(
        host=settings.POSTGRES_HOST,
        port=port,
        user=settings.POSTGRES_USER,
        password=settings.POSTGRES_PASSWORD,
        dbname=database,
        connect_timeout=3,
        autocommit=True,
    )


def answers(port: int) -> bool:
    """Whether a query on `port` reaches the cluster."""
    import psycopg

    try:
        with connect(port) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def local_databases() -> list[str]:
    """The databases DATABASE_URL and DAGSTER_PG_URL name on this cluster, directly or through
    the stack's PgBouncer (by default `file_pipeline` and `dagster`); URLs pointing elsewhere are
    not ours to create."""
    names = []
    for var in (settings.DATABASE_URL, settings.DAGSTER_PG_URL):
        url = urlsplit(var.value())
        if url.hostname in ("localhost", "127.0.0.1", "::1") and (url.port or 5432) in (
            settings.POSTGRES_PORT,
            settings.PGBOUNCER_PORT,
        ):
            names.append(url.path.lstrip("/") or settings.APP_DATABASE)
    return list(dict.fromkeys(names))


def version_string(output: str) -> str:
    """'postgres (PostgreSQL) 15.14 (Debian …)' -> '15.14'."""
    match = re.search(r"\d+(\.\d+)+", output)
    return match.group(0) if match else output.strip()


def server_version(binary: str) -> str:
    """The full server version of a postgres binary (for diagnostics)."""
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return version_string(result.stdout)
