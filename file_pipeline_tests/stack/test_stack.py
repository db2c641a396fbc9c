"""The local stack against the real services: up/status/idempotence, each service's protocol,
env exports and docker-compose.yml parity with settings.

`stack.up()` is a no-op for services that already run, so this module is cheap when the stack is
up and starts it (once per session) when it is not. It never takes the whole stack down.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from confluent_kafka.admin import AdminClient

from file_pipeline import settings, stack
from file_pipeline.processing.scanning import ClamdScanner, Verdict
from file_pipeline.resources import ObjectStorageResource
from file_pipeline.stack import paths, process

pytestmark = pytest.mark.stack

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
COMPOSE_FILE = paths.repo_root() / "docker-compose.yml"
DOCKER_COMPOSE = "/usr/bin/docker-compose"


@pytest.fixture(scope="module")
def running_stack() -> list[stack.ServiceStatus]:
    """Every service up (started if needed); returns their status after `up`."""
    return stack.up()


def _by_name(statuses: list[stack.ServiceStatus]) -> dict[str, stack.ServiceStatus]:
    return {status.name: status for status in statuses}


def test_up_reports_all_services_running(running_stack: list[stack.ServiceStatus]) -> None:
    assert set(_by_name(running_stack)) == set(stack.SERVICES)
    statuses = _by_name(stack.status())
    expected = {
        "postgres": f"localhost:{settings.POSTGRES_PORT}",
        "pgbouncer": f"localhost:{settings.PGBOUNCER_PORT}",
        "kafka": f"localhost:{settings.KAFKA_PORT}",
        "minio": f"localhost:{settings.MINIO_PORT}",
        "clamav": f"localhost:{settings.CLAMAV_PORT}",
    }
    for name, address in expected.items():
        status = statuses[name]
        assert status.running, f"{name} not running: {status.detail}"
        assert status.pid is not None
        assert status.address == address
        assert status.detail
        assert status.log_path.is_file(), status.log_path


def test_up_again_is_idempotent(running_stack: list[stack.ServiceStatus]) -> None:
    before = {status.name: status.pid for status in stack.status()}
    lines: list[str] = []
    again = stack.up(echo=lines.append)
    assert {status.name: status.pid for status in again} == before
    assert all("already running" in line for line in lines), lines


@pytest.mark.parametrize("database", [settings.APP_DATABASE, settings.DAGSTER_DATABASE])
def test_postgres_databases_answer(running_stack: list[stack.ServiceStatus], database: str) -> None:
    import psycopg

    url = settings.DATABASE_URL.default.rsplit("/", 1)[0] + f"/{database}"
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_postgres_trusts_loopback_and_listens_on_it_only(
    running_stack: list[stack.ServiceStatus],
) -> None:
    """The cluster takes the stack's own hba file, which trusts local connections (no SCRAM key
    derivation on each of the many connections Dagster's storage opens), and that is safe only
    because the server listens on localhost alone."""
    import psycopg

    from file_pipeline.stack.postgres import Postgres

    with psycopg.connect(settings.DATABASE_URL.default, connect_timeout=5) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("localhost",)
        (hba_file,) = conn.execute("SHOW hba_file").fetchone() or ("",)
        rules = conn.execute(
            "SELECT type, address, auth_method, error FROM pg_hba_file_rules"
        ).fetchall()
    assert Path(hba_file) == Postgres().hba_file
    assert all(error is None for *_, error in rules), rules
    assert ("host", "127.0.0.1", "trust", None) in rules
    assert {auth for _, _, auth, _ in rules} == {"trust"}


def _session(url: str) -> tuple[int, str]:
    """One short session, as Dagster's storage opens them: the server process that served it,
    and its statement_timeout before it changes it."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone() or (0,)
        (timeout,) = conn.execute("SHOW statement_timeout").fetchone() or ("",)
        conn.execute("SET statement_timeout = '1234ms'")
    return pid, timeout


def test_dagster_storage_connects_through_pgbouncer(
    running_stack: list[stack.ServiceStatus],
) -> None:
    """DAGSTER_PG_URL goes through the stack's PgBouncer: consecutive short sessions are served
    by the same server process (no backend forked per connection), each starting clean (what
    the previous client SET is gone). Directly, each session gets a process of its own."""
    assert f":{settings.PGBOUNCER_PORT}/" in settings.DAGSTER_PG_URL.default
    pooled = [_session(settings.DAGSTER_PG_URL.default) for _ in range(3)]
    assert len({pid for pid, _ in pooled}) == 1, pooled
    assert all(timeout == "0" for _, timeout in pooled), pooled
    direct_url = settings.DATABASE_URL.default.rsplit("/", 1)[0] + f"/{settings.DAGSTER_DATABASE}"
    direct = [_session(direct_url) for _ in range(3)]
    assert len({pid for pid, _ in direct}) == 3, direct


def test_kafka_answers_admin_requests(running_stack: list[stack.ServiceStatus]) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS.default})
    metadata = admin.list_topics(timeout=10)
    assert 1 in metadata.brokers


def test_minio_is_healthy(running_stack: list[stack.ServiceStatus]) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = f"{settings.S3_ENDPOINT_URL.default}/minio/health/live"
    with opener.open(url, timeout=5) as response:
        assert response.status == 200


def test_clamd_pings_and_detects_eicar(running_stack: list[stack.ServiceStatus]) -> None:
    host, port = settings.CLAMAV_HOST.default, settings.CLAMAV_PORT
    assert stack.clamd_ping(host, port)
    scanner = ClamdScanner(host, port, timeout=10)
    infected = scanner.scan_bytes(EICAR)
    assert infected.verdict is Verdict.INFECTED and "EICAR" in (infected.signature or "")
    clean = scanner.scan_bytes(b"just some harmless bytes\n" * 1000)
    assert clean.verdict is Verdict.CLEAN and clean.signature is None


def test_clamav_restarts_alone(running_stack: list[stack.ServiceStatus]) -> None:
    """down/up of one service leaves the others alone and gets a fresh process."""
    others = {s.name: s.pid for s in stack.status() if s.name != "clamav"}
    old_pid = _by_name(stack.status())["clamav"].pid
    stopped = _by_name(stack.down(["clamav"], echo=lambda _line: None))["clamav"]
    assert not stopped.running and stopped.pid is None
    assert not stack.clamd_ping("localhost", settings.CLAMAV_PORT)
    started = _by_name(stack.up(["clamav"], echo=lambda _line: None))["clamav"]
    assert started.running and started.pid not in (None, old_pid)
    assert stack.clamd_ping("localhost", settings.CLAMAV_PORT)
    assert {s.name: s.pid for s in stack.status() if s.name != "clamav"} == others


@pytest.mark.parametrize("service", ["minio", "clamav"])
def test_a_service_restarts_reliably_again_and_again(
    running_stack: list[stack.ServiceStatus], service: str
) -> None:
    """down then up at once, three times: the new process is waited for (never judged before
    it has set itself up), and the port the old one held is waited for, not reported taken."""
    pids = set()
    for _ in range(3):
        stack.down([service], echo=lambda _line: None)
        started = _by_name(stack.up([service], echo=lambda _line: None))[service]
        assert started.running, started.detail
        pids.add(started.pid)
    assert len(pids) == 3


def test_a_recycled_pid_is_never_taken_for_a_service(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A pid file whose pid now belongs to another program (its start time differs) is not
    trusted: the service counts as stopped, and `down` leaves that program alone."""
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path))
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        started = process.start_time(stranger.pid)
        assert started is not None
        process.write_pid("clamav", process.ProcessIdentity(stranger.pid, started + 1))
        (status,) = [s for s in stack.status() if s.name == "clamav"]
        assert status.pid is None and not status.running
        lines: list[str] = []
        stack.down(["clamav"], echo=lines.append)
        assert lines == ["clamav: not running"]
        assert stranger.poll() is None, "the other program was not signalled"
        assert not process.pid_file("clamav").exists(), "the stale pid file is removed"
        process.write_pid("clamav", process.ProcessIdentity(stranger.pid, started))
        assert process.read_pid("clamav") == process.ProcessIdentity(stranger.pid, started)
    finally:
        stranger.kill()
        stranger.wait()


def test_stack_up_again_completes_a_setup_left_half_done(pipeline_env: dict[str, str]) -> None:
    """Databases, schema, bucket and topics named by the configuration: a second `stack up`
    restores what the first one (or a person) left missing."""
    import psycopg
    from psycopg import sql

    tag = uuid.uuid4().hex[:8]
    base = settings.DATABASE_URL.default.rsplit("/", 1)[0]
    names = {
        "DATABASE_URL": f"{base}/fp_half_{tag}",
        "DAGSTER_PG_URL": f"{base}/fp_half_{tag}_dagster",
        "S3_BUCKET": f"fp-half-{tag}",
        "FILE_EVENTS_TOPIC": f"file-events-half-{tag}",
        "FILE_NOTIFICATIONS_TOPIC": f"file-notifications-half-{tag}",
    }
    env = {**os.environ, **names}
    cli = str(Path(sys.executable).with_name("file-pipeline"))
    admin_url = f"{base}/postgres"
    bucket = ObjectStorageResource(
        endpoint_url=settings.S3_ENDPOINT_URL.default,
        aws_access_key_id=settings.AWS_ACCESS_KEY_ID.default,
        aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY.default,
        region_name=settings.AWS_REGION.default,
        bucket=names["S3_BUCKET"],
    )

    def up() -> str:
        done = subprocess.run(
            [cli, "stack", "up"], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def present() -> dict[str, bool]:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            databases = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        with psycopg.connect(names["DATABASE_URL"]) as conn:
            migrated = conn.execute("SELECT to_regclass('files')").fetchone()[0] is not None
        topics = set(
            AdminClient({"bootstrap.servers": "localhost:9092"}).list_topics(timeout=10).topics
        )
        try:
            bucket.get_client().head_bucket(Bucket=bucket.bucket)
            has_bucket = True
        except ClientError:
            has_bucket = False
        return {
            "databases": {f"fp_half_{tag}", f"fp_half_{tag}_dagster"} <= databases,
            "schema": migrated,
            "topics": {names["FILE_EVENTS_TOPIC"], f"{names['FILE_EVENTS_TOPIC']}.dlq"} <= topics,
            "bucket": has_bucket,
        }

    try:
        up()
        assert all(present().values()), present()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(f"fp_half_{tag}"))
            )
        admin = AdminClient({"bootstrap.servers": "localhost:9092"})
        admin.delete_topics([names["FILE_EVENTS_TOPIC"]])[names["FILE_EVENTS_TOPIC"]].result(30)
        bucket.delete_bucket()
        with pytest.raises(ClientError):
            bucket.get_client().head_bucket(Bucket=bucket.bucket)
        output = up()
        assert "already running" in output and "0005_stage_versions" in output
        assert all(present().values()), present()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for database in (f"fp_half_{tag}", f"fp_half_{tag}_dagster"):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )
        admin = AdminClient({"bootstrap.servers": "localhost:9092"})
        topics = [
            names["FILE_EVENTS_TOPIC"],
            f"{names['FILE_EVENTS_TOPIC']}.dlq",
            names["FILE_NOTIFICATIONS_TOPIC"],
        ]
        for future in admin.delete_topics(topics).values():
            with contextlib.suppress(Exception):
                future.result(30)
        bucket.delete_bucket()


def test_unknown_service_is_a_stack_error() -> None:
    with pytest.raises(stack.StackError, match="unknown service"):
        stack.up(["redis"])


def test_env_exports_cover_every_setting() -> None:
    lines = stack.env_exports().splitlines()
    names = {line.split("=", 1)[0].removeprefix("export ") for line in lines}
    assert all(line.startswith("export ") for line in lines)
    assert {var.name for var in settings.ALL_ENV_VARS} | {"DAGSTER_HOME"} <= names


def test_env_exports_dagster_home_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    expected = f"export DAGSTER_HOME={paths.repo_root() / 'dagster_home'}"
    assert expected in stack.env_exports().splitlines()
    monkeypatch.setenv("DAGSTER_HOME", "/tmp/elsewhere")
    assert "export DAGSTER_HOME=/tmp/elsewhere" in stack.env_exports().splitlines()


def test_docker_compose_is_valid() -> None:
    if not Path(DOCKER_COMPOSE).exists() and shutil.which("docker-compose") is None:
        pytest.fail(
            "docker-compose is not installed: `./dev test` installs it "
            "(apt-get install docker-compose)"
        )
    compose = shutil.which("docker-compose") or DOCKER_COMPOSE
    result = subprocess.run(
        [compose, "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_docker_compose_matches_settings() -> None:
    text = COMPOSE_FILE.read_text()
    for port in (
        settings.POSTGRES_PORT,
        settings.PGBOUNCER_PORT,
        settings.KAFKA_PORT,
        settings.MINIO_PORT,
        settings.MINIO_CONSOLE_PORT,
        settings.CLAMAV_PORT,
        settings.KAFKA_UI_PORT,
        settings.PGADMIN_PORT,
    ):
        assert f":{port}:{port}" in text, port
    for value in (
        f"POSTGRES_USER: {settings.POSTGRES_USER}",
        f"POSTGRES_PASSWORD: {settings.POSTGRES_PASSWORD}",
        f"DB_USER: {settings.POSTGRES_USER}",
        f"DB_PASSWORD: {settings.POSTGRES_PASSWORD}",
        "POOL_MODE: session",
        f"MINIO_ROOT_USER: {settings.MINIO_ROOT_USER}",
        f"MINIO_ROOT_PASSWORD: {settings.MINIO_ROOT_PASSWORD}",
    ):
        assert value in text, value
    for var in settings.ALL_ENV_VARS:
        assert f"#   {var.name}=" in text, f"{var.name} missing from the header comment"
    init_sql = (paths.repo_root() / "docker" / "postgres-init.sql").read_text()
    assert settings.DAGSTER_DATABASE in init_sql and settings.APP_DATABASE in init_sql
