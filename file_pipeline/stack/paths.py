"""Where the stack keeps downloaded artifacts, service data, pid files and logs.

The cache (slow downloads and builds: Kafka jars, the MinIO binary) lives outside the repository so
that reruns and fresh clones reuse it. Data lives in a per-machine folder: as root under
/var/lib/file-pipeline, because PostgreSQL runs as the `postgres` user and must be able to traverse
every parent of its data directory (it cannot traverse /root).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "FILE_PIPELINE_CACHE_DIR"
DATA_DIR_ENV = "FILE_PIPELINE_DATA_DIR"


def is_root() -> bool:
    """Whether this process runs as root (it may then install packages and switch users)."""
    return os.geteuid() == 0


def repo_root() -> Path:
    """The project checkout this package was loaded from (…/file_pipeline/stack -> …)."""
    return Path(__file__).resolve().parents[2]


def package_files_dir() -> Path:
    """Files shipped with the stack package (e.g. the ClamAV test signatures)."""
    return Path(__file__).resolve().parent / "files"


def cache_dir() -> Path:
    """Cache for slow artifacts: `$FILE_PIPELINE_CACHE_DIR`, default ~/.cache/file-pipeline."""
    override = os.environ.get(CACHE_DIR_ENV)
    path = Path(override).expanduser() if override else Path.home() / ".cache" / "file-pipeline"
    return path.absolute()


def data_dir() -> Path:
    """Service data: `$FILE_PIPELINE_DATA_DIR`, default /var/lib/file-pipeline (root) or
    ~/.local/share/file-pipeline (other users)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser().absolute()
    if is_root():
        return Path("/var/lib/file-pipeline")
    return Path.home() / ".local" / "share" / "file-pipeline"


def service_dir(service: str) -> Path:
    """The data folder of one service, created on demand."""
    return _ensure(data_dir() / service)


def run_dir() -> Path:
    """Pid files of the processes `up` started."""
    return _ensure(data_dir() / "run")


def logs_dir() -> Path:
    """Service logs and install/build logs."""
    return _ensure(data_dir() / "logs")


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
