"""The local stack against the real services: up/status/idempotence, each service's protocol,
env exports and docker-compose.yml parity with settings.

`stack.up()` is a no-op for services that already run, so this module is cheap when the stack is
up and starts it (once per session) when it is not. It never takes the whole stack down.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from file_pipeline import settings, stack
from file_pipeline.processing.scanning import ClamdScanner, Verdict
from file_pipeline.stack import paths

pytestmark = pytest.mark.stack

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
COMPOSE_FILE = paths.repo_root() / "docker-compose.yml"
DOCKER_COMPOSE = "/usr/bin/docker-compose"


@pytest.fixture(scope="module")
def running_stack() -> list[stack.ServiceStatus]:
    """All four services up (started if needed); returns their status after `up`."""
    return stack.up()


def _by_name(statuses: list[stack.ServiceStatus]) -> dict[str, stack.ServiceStatus]:
    return {status.name: status for status in statuses}


def test_up_reports_all_services_running(running_stack: list[stack.ServiceStatus]) -> None:
    assert set(_by_name(running_stack)) == set(stack.SERVICES)
    statuses = _by_name(stack.status())
    expected = {
        "postgres": f"localhost:{settings.POSTGRES_PORT}",
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
        f"MINIO_ROOT_USER: {settings.MINIO_ROOT_USER}",
        f"MINIO_ROOT_PASSWORD: {settings.MINIO_ROOT_PASSWORD}",
    ):
        assert value in text, value
    for var in settings.ALL_ENV_VARS:
        assert f"#   {var.name}=" in text, f"{var.name} missing from the header comment"
    init_sql = (paths.repo_root() / "docker" / "postgres-init.sql").read_text()
    assert settings.DAGSTER_DATABASE in init_sql and settings.APP_DATABASE in init_sql
