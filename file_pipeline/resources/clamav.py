"""The ClamAV daemon (clamd) that scans every upload before anything else touches it."""

import dagster as dg
from pydantic import Field

from file_pipeline.processing.scanning import ClamdScanner


class ClamAVResource(dg.ConfigurableResource):
    """Gives a clamd client over TCP. An unreachable clamd means "no verdict": files stay pending
    (fail closed), never clean, and the run fails so Dagster retries it."""

    host: str = Field(default="localhost", description="clamd host.")
    port: int = Field(default=3310, description="clamd TCP port.")
    timeout_seconds: float = Field(
        default=60.0,
        description="Per-operation socket timeout. A scan that takes longer while clamd still "
        "answers PING fails that file (unscannable), not the run.",
    )
    max_scan_bytes: int = Field(
        default=200 * 1024 * 1024,
        description="Largest file sent to clamd (its StreamMaxLength); larger files are marked "
        "failed, never clean.",
    )

    def scanner(self) -> ClamdScanner:
        return ClamdScanner(self.host, self.port, timeout=self.timeout_seconds)
