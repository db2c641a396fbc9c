"""Install and run the real local services (PostgreSQL, PgBouncer, Kafka, MinIO, ClamAV).

Used by `file-pipeline stack up|down|status|env`. Nothing here imports Dagster. Slow artifacts
(Kafka jars, the MinIO binary) are cached in $FILE_PIPELINE_CACHE_DIR (~/.cache/file-pipeline),
service data lives in $FILE_PIPELINE_DATA_DIR (/var/lib/file-pipeline as root, else
~/.local/share/file-pipeline) and survives restarts.
"""

from __future__ import annotations

from file_pipeline.stack.base import ServiceStatus
from file_pipeline.stack.clamav import clamd_ping
from file_pipeline.stack.errors import (
    InstallError,
    PortInUseError,
    ServiceExitedError,
    StackError,
    StartError,
    StartTimeoutError,
)
from file_pipeline.stack.manager import SERVICES, down, env_exports, status, up

__all__ = [
    "SERVICES",
    "InstallError",
    "PortInUseError",
    "ServiceExitedError",
    "ServiceStatus",
    "StackError",
    "StartError",
    "StartTimeoutError",
    "clamd_ping",
    "down",
    "env_exports",
    "status",
    "up",
]
