"""The production deployment (docs/deployment.md), checked as far as this machine allows (no Docker
engine, no Kubernetes cluster, no local services needed):

- docker-compose.prod.yml merged with docker-compose.yml, through Debian's docker-compose;
- the container instance (deploy/docker/dagster.yaml) against Dagster's own config schemas;
- a real `dagster code-server start` process serving the workspace of the containers over gRPC;
- the Helm values for Dagster's chart, as YAML (rendering them with the chart itself is a manual
  step, in docs/deployment.md: the chart is not reachable from here).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from file_pipeline import settings
from file_pipeline.cli.runtime import free_port

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
CONTAINER_INSTANCE = ROOT / "deploy" / "docker" / "dagster.yaml"
CONTAINER_WORKSPACE = ROOT / "deploy" / "docker" / "workspace.yaml"
LOCAL_INSTANCE = ROOT / "dagster_home" / "dagster.yaml"
HELM_VALUES = ROOT / "deploy" / "helm" / "values.yaml"
DOCS = ROOT / "docs" / "deployment.md"
COMPOSE_FILES = ["-f", "docker-compose.yml", "-f", "docker-compose.prod.yml"]

SETTINGS_VARS = {var.name for var in settings.ALL_ENV_VARS}
DAGSTER_SERVICES = ("code-server", "webserver", "daemon")
CODE_SERVER_COMMAND = [
    "dagster",
    "code-server",
    "start",
    "-m",
    "file_pipeline.definitions",
    "-h",
    "0.0.0.0",
    "-p",
    "4266",
    "--location-name",
    "file_pipeline",
]
WORKSPACE_IN_IMAGE = "/opt/dagster/workspace.yaml"
DAGSTER_HOME_IN_IMAGE = "/opt/dagster/dagster_home"


def _bin(name: str) -> str:
    path = VENV_BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _pools_used_by_assets() -> set[str]:
    from file_pipeline.definitions import defs

    graph = defs().resolve_asset_graph()
    pools: set[str] = set()
    for key in graph.get_all_asset_keys():
        pools |= set(graph.get(key).pools or ())
    return pools


@pytest.fixture(scope="module")
def pools() -> set[str]:
    found = _pools_used_by_assets()
    assert {"virus_scan", "derived_outputs"} <= found
    return found


# --- (a) docker-compose.prod.yml ----------------------------------------------------------------


def _docker_compose() -> str:
    found = shutil.which("docker-compose") or "/usr/bin/docker-compose"
    if not Path(found).exists():
        pytest.fail("docker-compose is not installed: `./dev test` installs it")
    return found


def _compose(*args: str) -> subprocess.CompletedProcess[str]:
    # Interpolation reads the shell: drop the knobs so the defaults of the file are what we see.
    knobs = SETTINGS_VARS | {"FILE_PIPELINE_IMAGE", "DOCKER_GID"}
    env = {k: v for k, v in os.environ.items() if k not in knobs and not k.startswith("COMPOSE_")}
    return subprocess.run(
        [_docker_compose(), *COMPOSE_FILES, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
def merged_compose() -> dict[str, Any]:
    quiet = _compose("config", "-q")
    assert quiet.returncode == 0, quiet.stderr
    full = _compose("config")
    assert full.returncode == 0, full.stderr
    return yaml.safe_load(full.stdout)


def test_compose_prod_runs_the_three_dagster_services(merged_compose: dict[str, Any]) -> None:
    services = merged_compose["services"]
    assert {"postgres", "kafka", "minio", "clamav", "init", *DAGSTER_SERVICES} <= set(services)
    assert services["code-server"]["command"] == CODE_SERVER_COMMAND
    assert services["webserver"]["command"] == [
        "dagster-webserver",
        "-h",
        "0.0.0.0",
        "-p",
        "3000",
        "-w",
        WORKSPACE_IN_IMAGE,
    ]
    assert services["daemon"]["command"] == ["dagster-daemon", "run", "-w", WORKSPACE_IN_IMAGE]
    images = {services[name]["image"] for name in ("init", *DAGSTER_SERVICES)}
    assert images == {"file-pipeline:latest"}
    assert services["init"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "127.0.0.1:3000:3000" in str(services["webserver"]["ports"])


def test_compose_prod_shares_one_environment(merged_compose: dict[str, Any]) -> None:
    services = merged_compose["services"]
    env = {name: dict(services[name]["environment"]) for name in ("init", *DAGSTER_SERVICES)}
    base = env["webserver"]
    assert env["daemon"] == base
    assert {k: v for k, v in env["code-server"].items() if k != "DAGSTER_CURRENT_IMAGE"} == base
    # The code server reports its image; DockerRunLauncher starts each run from it.
    assert env["code-server"]["DAGSTER_CURRENT_IMAGE"] == services["code-server"]["image"]
    assert SETTINGS_VARS | {"DAGSTER_HOME"} <= set(base)
    assert base["DAGSTER_HOME"] == DAGSTER_HOME_IN_IMAGE
    assert base["PROCESSING_WORKERS"] == "2", "a run container has 2 CPUs, not the host's cores"
    # In-network addresses of the backing services of docker-compose.yml.
    assert "@pgbouncer:6432/dagster" in base["DAGSTER_PG_URL"]
    assert services["pgbouncer"]["environment"]["DB_HOST"] == "postgres"
    assert "@postgres:5432/file_pipeline" in base["DATABASE_URL"]
    assert base["S3_ENDPOINT_URL"] == "http://minio:9000"
    assert base["CLAMAV_HOST"] == "clamav"
    kafka_listeners = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"//{base['KAFKA_BOOTSTRAP_SERVERS']}" in kafka_listeners
    # A run container's CPUs and memory fit the decoding workers and their budgets.
    kwargs = _load(CONTAINER_INSTANCE)["run_launcher"]["config"]["container_kwargs"]
    workers = int(base["PROCESSING_WORKERS"])
    assert kwargs["nano_cpus"] == workers * 10**9
    mem_limit = int(kwargs["mem_limit"].removesuffix("g")) * 2**30
    assert mem_limit >= workers * int(base["FILE_MEMORY_BUDGET_MB"]) * 2**20 + 2**30


def test_compose_prod_order_socket_and_network(merged_compose: dict[str, Any]) -> None:
    services = merged_compose["services"]
    init_deps = services["init"]["depends_on"]
    assert {name: dep["condition"] for name, dep in init_deps.items()} == {
        "postgres": "service_healthy",
        "pgbouncer": "service_started",
        "minio": "service_healthy",
        "kafka": "service_healthy",
    }
    assert "healthcheck" in services["kafka"]
    code_server = services["code-server"]
    assert code_server["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert "grpc-health-check" in code_server["healthcheck"]["test"]
    for name in ("webserver", "daemon"):
        service = services[name]
        assert service["depends_on"]["code-server"]["condition"] == "service_healthy"
        assert any(
            v.startswith("/var/run/docker.sock:/var/run/docker.sock") for v in service["volumes"]
        )
        assert service["group_add"], "the non-root image needs the socket's group"
    instance = _load(CONTAINER_INSTANCE)
    assert (
        merged_compose["networks"]["default"]["name"]
        == instance["run_launcher"]["config"]["network"]
    )


_pool_limits = settings.pool_limits


def test_compose_init_sets_every_pool_limit(
    merged_compose: dict[str, Any], pools: set[str]
) -> None:
    init = merged_compose["services"]["init"]
    # `config` prints `$` escaped as `$$`, as in the file.
    script = "\n".join(init["command"]).replace("$$", "$")
    assert "dagster instance migrate" in script
    assert "file-pipeline db migrate" in script, "which sets the CONCURRENCY_POOLS limits"
    limits = _pool_limits(init["environment"]["CONCURRENCY_POOLS"])
    assert set(limits) == pools
    assert all(limit > 0 for limit in limits.values())
    assert init["environment"]["CONCURRENCY_POOLS"] == settings.CONCURRENCY_POOLS.default


def test_dockerfile_builds_the_one_image() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert 'pip install ".[deploy]"' in text
    assert f"DAGSTER_HOME={DAGSTER_HOME_IN_IMAGE}" in text
    assert f"COPY deploy/docker/dagster.yaml {DAGSTER_HOME_IN_IMAGE}/dagster.yaml" in text
    assert f"COPY deploy/docker/workspace.yaml {WORKSPACE_IN_IMAGE}" in text
    (user,) = re.findall(r"^USER (\S+)", text, re.M)
    assert user not in ("root", "0")
    (cmd,) = re.findall(r"^CMD (\[.*\])$", text, re.M)
    assert json.loads(cmd) == CODE_SERVER_COMMAND
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deploy = pyproject["project"]["optional-dependencies"]["deploy"]
    assert sorted(deploy) == ["dagster-docker==0.29.27", "dagster-k8s==0.29.27"]


# --- (b) the instance and workspace of the containers -------------------------------------------


def test_container_instance_validates_against_dagster(tmp_path: Path) -> None:
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

    from file_pipeline.launcher import WarmingRunCoordinator

    shutil.copy(CONTAINER_INSTANCE, tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}

    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert validate_config(QueuedRunCoordinator.config_type(), coordinator["config"]).success

    logs = config["compute_logs"]
    assert (logs["module"], logs["class"]) == (
        "dagster_aws.s3.compute_log_manager",
        "S3ComputeLogManager",
    )
    assert validate_config(S3ComputeLogManager.config_type(), logs["config"]).success

    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    assert set(launcher["config"]["env_vars"]) == SETTINGS_VARS

    # The same queue, monitoring and retries as the local instance. The local coordinator is
    # Dagster's plus the forkserver's warm-up (which containers do not have) and a fractional
    # queue interval; the containers' daemon imports no pipeline code, so it keeps Dagster's
    # coordinator at its shortest interval, the local one rounded up to a whole second.
    local = _load(LOCAL_INSTANCE)
    raw = _load(CONTAINER_INSTANCE)
    for section in ("concurrency", "run_monitoring", "run_retries"):
        assert raw[section] == local[section], section
    local_interval = local["run_coordinator"]["config"]["dequeue_interval_seconds"]
    assert raw["run_coordinator"]["config"] == {
        "dequeue_interval_seconds": max(1, math.ceil(local_interval))
    }
    assert local["run_coordinator"]["class"] == "WarmingRunCoordinator"
    assert issubclass(WarmingRunCoordinator, QueuedRunCoordinator)


def test_container_instance_docker_run_launcher_config() -> None:
    import dagster_docker
    from dagster._config import validate_config

    launcher_config = _load(CONTAINER_INSTANCE)["run_launcher"]["config"]
    result = validate_config(dagster_docker.DockerRunLauncher.config_type(), launcher_config)
    assert result.success, result.errors
    launcher = dagster_docker.DockerRunLauncher(**launcher_config)
    assert launcher.networks == ["file_pipeline"]
    kwargs = launcher.container_kwargs
    assert kwargs["mem_limit"] and kwargs["nano_cpus"] == 2_000_000_000


def test_container_workspace_points_at_the_code_server() -> None:
    (entry,) = _load(CONTAINER_WORKSPACE)["load_from"]
    assert entry == {
        "grpc_server": {"host": "code-server", "port": 4266, "location_name": "file_pipeline"}
    }
    port = CODE_SERVER_COMMAND[CODE_SERVER_COMMAND.index("-p") + 1]
    assert str(entry["grpc_server"]["port"]) == port


# --- (c) a real gRPC code server ----------------------------------------------------------------


def test_code_server_serves_the_container_workspace_over_grpc(tmp_path: Path) -> None:
    from dagster._grpc.client import DagsterGrpcClient

    port = free_port()
    image = "file-pipeline:test-deployment"
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # The environment of this process, with a throwaway DAGSTER_HOME (nothing here needs the
    # instance database) and the image the compose file gives the code-server container.
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_CURRENT_IMAGE": image}
    log = (tmp_path / "code-server.log").open("w")  # a file, not a pipe nobody drains
    server = subprocess.Popen(
        [
            _bin("dagster"),
            *CODE_SERVER_COMMAND[1:5],
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--location-name",
            "file_pipeline",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        client = DagsterGrpcClient(port=port, host="127.0.0.1")
        deadline = time.monotonic() + 30
        while True:
            try:
                assert client.ping("hi")["echo"] == "hi"
                break
            except Exception:
                if server.poll() is not None:
                    output = (tmp_path / "code-server.log").read_text()[-3000:]
                    pytest.fail(f"code server exited {server.returncode}: {output}")
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

        listed = json.loads(client.list_repositories())
        assert listed["container_image"] == image, "DockerRunLauncher takes the run image from here"
        pointer = listed["repository_code_pointer_dict"]["__repository__"]
        assert pointer["module"] == "file_pipeline.definitions"

        # The containers' workspace file, with the code-server host and port swapped for ours.
        workspace = _load(CONTAINER_WORKSPACE)
        workspace["load_from"][0]["grpc_server"].update(host="127.0.0.1", port=port)
        workspace_file = tmp_path / "workspace.yaml"
        workspace_file.write_text(yaml.safe_dump(workspace))
        cli_env = {**os.environ, "DAGSTER_HOME": str(home)}

        validate = subprocess.run(
            [_bin("dagster"), "definitions", "validate", "-w", str(workspace_file)],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        output = validate.stdout + validate.stderr
        assert validate.returncode == 0, output
        assert "Validation successful for code location file_pipeline" in output

        jobs = subprocess.run(
            [_bin("dagster"), "job", "list", "-w", str(workspace_file)],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert jobs.returncode == 0, jobs.stderr
        listed_jobs = set(re.findall(r"^Job: (\S+)$", jobs.stdout, re.M))
        assert {"upload_files", "process_file_events"} <= listed_jobs
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
        log.close()


# --- (d) the Helm values --------------------------------------------------------------------------

_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}


def _quantity(value: str | int) -> float:
    text = str(value)
    for suffix, factor in _UNITS.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    return float(text)


@pytest.fixture(scope="module")
def helm_values() -> dict[str, Any]:
    return _load(HELM_VALUES)


def test_helm_values_launch_runs_as_kubernetes_jobs_with_resources(
    helm_values: dict[str, Any],
) -> None:
    launcher = helm_values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    assert {"name": "file-pipeline-env"} in k8s["envConfigMaps"]
    assert {"name": "file-pipeline-secrets"} in k8s["envSecrets"]
    resources = k8s["runK8sConfig"]["containerConfig"]["resources"]
    for kind in ("cpu", "memory"):
        request, limit = resources["requests"][kind], resources["limits"][kind]
        assert _quantity(limit) >= _quantity(request), kind
    # PROCESSING_WORKERS decoders of FILE_MEMORY_BUDGET_MB each, plus the run process.
    config_map = _docs_manifest("ConfigMap", "file-pipeline-env")["data"]
    workers = int(config_map["PROCESSING_WORKERS"])
    assert workers == _quantity(resources["limits"]["cpu"])
    budget = workers * int(config_map["FILE_MEMORY_BUDGET_MB"]) * 2**20
    assert _quantity(resources["limits"]["memory"]) >= budget + 2**30


def test_helm_values_queue_limits_and_code_server(helm_values: dict[str, Any]) -> None:
    daemon = helm_values["dagsterDaemon"]
    coordinator = daemon["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"
    queued = coordinator["config"]["queuedRunCoordinator"]
    assert queued["maxConcurrentRuns"] > 0
    (processing,) = queued["tagConcurrencyLimits"]
    assert (processing["key"], processing["value"]) == ("file_pipeline/kind", "processing")
    assert 0 < processing["limit"] <= queued["maxConcurrentRuns"]
    assert daemon["runMonitoring"]["enabled"] and daemon["runRetries"]["enabled"]
    # Dagster refuses run limits on the coordinator next to a `concurrency:` block.
    assert not helm_values.get("concurrency", {}).get("enabled")

    (deployment,) = helm_values["dagster-user-deployments"]["deployments"]
    args = deployment["codeServerArgs"]
    assert args[args.index("-m") + 1] == "file_pipeline.definitions"
    assert args[args.index("--location-name") + 1] == "file_pipeline"
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": False}
    (server,) = helm_values["dagsterWebserver"]["workspace"]["servers"]
    assert server == {
        "host": deployment["name"],
        "port": deployment["port"],
        "name": "file_pipeline",
    }
    images = [
        helm_values["dagsterWebserver"]["image"],
        helm_values["dagsterDaemon"]["image"],
        deployment["image"],
    ]
    assert all(image == images[0] for image in images)


def _docs_yaml_blocks() -> list[Any]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.S)
    return [yaml.safe_load(block) for block in blocks]


def _docs_manifest(kind: str, name: str) -> dict[str, Any]:
    for doc in _docs_yaml_blocks():
        if isinstance(doc, dict) and doc.get("kind") == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"{kind} {name} is not in {DOCS.name}")


def test_helm_docs_cover_every_setting_and_pool(pools: set[str]) -> None:
    config_map = _docs_manifest("ConfigMap", "file-pipeline-env")["data"]
    secret_keys = set(
        re.findall(
            r"--from-literal=([A-Z_]+)=",
            DOCS.read_text()
            .split("create secret generic file-pipeline-secrets", 1)[1]
            .split("kubectl", 1)[0],
        )
    )
    assert set(config_map) | secret_keys == SETTINGS_VARS
    assert not set(config_map) & secret_keys

    assert set(_pool_limits(config_map["CONCURRENCY_POOLS"])) == pools
    job = _docs_manifest("Job", "file-pipeline-init")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    script = "\n".join(container["args"])
    assert "file-pipeline db migrate" in script
    mount = container["volumeMounts"][0]
    assert mount["mountPath"] == f"{DAGSTER_HOME_IN_IMAGE}/dagster.yaml"
