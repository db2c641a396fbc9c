"""MinIO (S3 API on localhost:9000, console on :9001), built from source with `go install`.

MinIO no longer publishes the binaries we would want to pin, so a fixed source version is built
once into the cache (several minutes on a small machine) and reused afterwards.
"""

from __future__ import annotations

import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from file_pipeline import settings
from file_pipeline.stack import paths
from file_pipeline.stack.base import Service
from file_pipeline.stack.errors import InstallError
from file_pipeline.stack.process import Echo, Launch, run_logged, which

MINIO_MODULE = "github.com/minio/minio"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
MIN_GO = (1, 24)
GO_DIRS = ("/usr/local/go/bin", "/usr/lib/go/bin")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Talks to localhost directly even when http_proxy is set."""


def go_version(go: str) -> tuple[int, int]:
    """(major, minor) of a Go toolchain, e.g. (1, 26) for go1.26.8."""
    result = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    match = re.search(r"go(\d+)\.(\d+)", result.stdout)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


class Minio(Service):
    """MinIO single-drive server with the root credentials from settings."""

    name = "minio"
    ports = (settings.MINIO_PORT, settings.MINIO_CONSOLE_PORT)
    start_timeout = 60.0

    @property
    def binary(self) -> Path:
        return paths.cache_dir() / f"minio-{MINIO_VERSION}" / "minio"

    @property
    def storage(self) -> Path:
        return self.data_dir

    def install(self, echo: Echo) -> None:
        if self.binary.is_file():
            return
        go = which("go", *GO_DIRS)
        if go is None or go_version(go) < MIN_GO:
            found = "no `go` on PATH" if go is None else f"`{go}` is too old"
            raise InstallError(
                f"building MinIO needs Go >= {MIN_GO[0]}.{MIN_GO[1]} ({found}); install it from "
                "https://go.dev/dl/ (Debian's golang package is too old) and put it on PATH",
                service=self.name,
            )
        log_path = paths.logs_dir() / "minio-build.log"
        echo(
            f"{self.name}: building MinIO {MINIO_VERSION} with `go install` into "
            f"{self.binary.parent} (once; takes several minutes; log: {log_path})"
        )
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        run_logged(
            [go, "install", "-v", f"{MINIO_MODULE}@{MINIO_VERSION}"],
            service=self.name,
            what="building MinIO with go install",
            log_path=log_path,
            env={"GOBIN": str(self.binary.parent), "GOFLAGS": "-trimpath", "CGO_ENABLED": "0"},
        )
        if not self.binary.is_file():
            raise InstallError(
                f"go install finished but {self.binary} is missing; see {log_path}",
                service=self.name,
                log_path=log_path,
            )

    def prepare(self, echo: Echo) -> None:
        self.storage.mkdir(parents=True, exist_ok=True)

    def launch(self) -> Launch:
        return Launch(
            argv=[
                str(self.binary),
                "server",
                str(self.storage),
                "--address",
                f"localhost:{settings.MINIO_PORT}",
                "--console-address",
                f"localhost:{settings.MINIO_CONSOLE_PORT}",
            ],
            cwd=self.data_dir,
            env={
                "MINIO_ROOT_USER": settings.MINIO_ROOT_USER,
                "MINIO_ROOT_PASSWORD": settings.MINIO_ROOT_PASSWORD,
                "MINIO_BROWSER": "on",
                "MINIO_UPDATE": "off",
            },
        )

    def ready(self) -> bool:
        url = f"http://localhost:{settings.MINIO_PORT}/minio/health/live"
        try:
            with _NO_PROXY.open(url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def detail(self) -> str:
        return (
            f"MinIO {MINIO_VERSION}, console http://localhost:{settings.MINIO_CONSOLE_PORT}, "
            f"data {self.storage}"
        )
