"""Typed errors raised by the stack manager; every message says what to do next."""

from __future__ import annotations

from pathlib import Path


class StackError(Exception):
    """Base class: anything that keeps the local stack from coming up or going down."""

    def __init__(self, message: str, *, service: str | None = None, log_path: Path | None = None):
        super().__init__(message)
        self.service = service
        self.log_path = log_path


class PortInUseError(StackError):
    """A port a service needs is held by a process this stack did not start."""

    def __init__(self, service: str, port: int):
        super().__init__(
            f"port {port} needed by {service} is in use by another process; stop it or free the "
            f"port (see `ss -ltnp | grep :{port}` for the owner), then run `file-pipeline stack up`"
            " again",
            service=service,
        )
        self.port = port


class InstallError(StackError):
    """A service's software is missing and could not be installed or built."""


class StartError(StackError):
    """A service was launched but did not become ready."""


class StartTimeoutError(StartError):
    """A service did not answer on its port within its start timeout."""


class ServiceExitedError(StartError):
    """A service's process exited while it was starting."""
