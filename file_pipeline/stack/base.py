"""The shape every local service shares, and its status record."""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from file_pipeline.stack import paths
from file_pipeline.stack.process import Echo, Launch


@dataclass
class ServiceStatus:
    """What `status`/`up`/`down` report for one service."""

    name: str
    running: bool
    pid: int | None
    address: str
    detail: str
    log_path: Path


class Service(ABC):
    """One local service: how to install, prepare, launch and probe it.

    The generic lifecycle (pid files, port checks, waiting, stopping) lives in
    `file_pipeline.stack.manager`; subclasses only describe the service.
    """

    name: ClassVar[str]
    ports: ClassVar[tuple[int, ...]]
    stop_signal: ClassVar[int] = signal.SIGTERM
    start_timeout: float = 60.0

    @property
    def address(self) -> str:
        return f"localhost:{self.ports[0]}"

    @property
    def data_dir(self) -> Path:
        return paths.service_dir(self.name)

    @property
    def log_path(self) -> Path:
        """The service's main log (shown in errors and status)."""
        return paths.logs_dir() / f"{self.name}.log"

    @property
    def console_log_path(self) -> Path:
        """Where the process's stdout/stderr go (the main log unless the service logs itself)."""
        return self.log_path

    @abstractmethod
    def install(self, echo: Echo) -> None:
        """Make sure the software is present (apt, Maven, go install), slow only the first time."""

    @abstractmethod
    def prepare(self, echo: Echo) -> None:
        """Write configuration and initialise data (once); runs right before each launch."""

    @abstractmethod
    def launch(self) -> Launch:
        """The command that runs the service in the foreground."""

    @abstractmethod
    def ready(self) -> bool:
        """Whether the service answers its protocol (not just an open port)."""

    def after_start(self, echo: Echo) -> None:  # noqa: B027 - optional hook
        """Work that needs the running service (e.g. creating databases)."""

    @abstractmethod
    def detail(self) -> str:
        """Human-readable version and data location, for `status`."""
