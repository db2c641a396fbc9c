"""Virus scanning with clamd over TCP (the INSTREAM protocol), without Dagster.

The bytes are streamed to clamd in length-prefixed chunks, so a file of any size is scanned with
at most one chunk in memory. Every failure to get a verdict (clamd down, timed out, a protocol
error, a size limit) raises ScannerUnavailableError or its subclass ScanError: callers keep the
file pending (fail closed) and never treat "no verdict" as "clean".
"""

from __future__ import annotations

import io
import socket
import struct
from dataclasses import dataclass
from typing import BinaryIO

from file_pipeline.errors import FilePipelineError

DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_REPLY_BYTES = 64 * 1024
_STREAM_PREFIX = "stream: "


class ScannerUnavailableError(FilePipelineError):
    """clamd gave no verdict (unreachable, timed out, protocol error): the file stays pending."""

    def __init__(self, host: str, port: int, operation: str, reason: str) -> None:
        self.host = host
        self.port = port
        self.operation = operation
        self.reason = reason
        super().__init__(f"clamd at {host}:{port} gave no verdict for {operation}: {reason}")


class ScanError(ScannerUnavailableError):
    """clamd answered with an error (e.g. `INSTREAM size limit exceeded`): still no verdict.

    It subclasses ScannerUnavailableError so that a caller handling "no verdict" handles this too.
    """

    def __init__(self, host: str, port: int, operation: str, clamd_message: str) -> None:
        self.clamd_message = clamd_message
        super().__init__(host, port, operation, f"clamd error: {clamd_message}")


@dataclass(frozen=True)
class ScanResult:
    clean: bool
    signature: str | None
    engine: str


def parse_scan_reply(reply: str) -> tuple[bool, str | None]:
    """(clean, signature) from a clamd INSTREAM reply; ValueError for an ERROR or unknown reply.

    Replies look like `stream: OK`, `stream: Eicar-Signature FOUND` and
    `INSTREAM size limit exceeded. ERROR`.
    """
    text = reply.replace("\x00", "").strip()
    if text.endswith("ERROR"):
        raise ValueError(text)
    body = text[len(_STREAM_PREFIX) :] if text.startswith(_STREAM_PREFIX) else None
    if body == "OK":
        return True, None
    if body is not None and body.endswith(" FOUND"):
        signature = body[: -len(" FOUND")].strip()
        if signature:
            return False, signature
    raise ValueError(f"unexpected reply {text!r}")


class ClamdScanner:
    """A clamd client over TCP. Each call opens its own connection, so an instance is thread-safe.

    `timeout` bounds every socket operation (connect, each send, the wait for the verdict), not the
    whole scan, so a large file scanned at a steady pace never times out.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = 30.0,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.host = host
        self.port = port
        self.timeout = timeout
        self.chunk_size = chunk_size
        self._version: str | None = None

    def ping(self) -> bool:
        """True when clamd answers PONG; False when it is unreachable or answers anything else."""
        try:
            return self._command("zPING") == "PONG"
        except ScannerUnavailableError:
            return False

    def version(self) -> str:
        """clamd's version line, e.g. `ClamAV 1.4.3/27000/Mon Jan  1 00:00:00 2024`."""
        reply = self._command("zVERSION")
        if not reply:
            raise ScannerUnavailableError(self.host, self.port, "VERSION", "empty reply")
        return reply

    def scan_bytes(self, data: bytes) -> ScanResult:
        return self.scan_stream(io.BytesIO(data))

    def scan_stream(self, stream: BinaryIO) -> ScanResult:
        """Scan `stream` from its current position to its end, one chunk in memory at a time."""
        operation = "INSTREAM"
        try:
            with self._connect(operation) as sock:
                try:
                    sock.sendall(b"zINSTREAM\x00")
                    while chunk := stream.read(self.chunk_size):
                        sock.sendall(struct.pack(">I", len(chunk)) + chunk)
                    sock.sendall(struct.pack(">I", 0))
                except OSError as exc:
                    # clamd closes the connection after an error such as the size limit; its
                    # reply (if it sent one) says why, so read it before reporting the send error.
                    reply = self._read_reply(sock, operation, missing_ok=True)
                    if reply:
                        return self._result(reply, operation)
                    raise self._unavailable(operation, exc) from exc
                reply = self._read_reply(sock, operation)
        except ScannerUnavailableError:
            raise
        except OSError as exc:
            raise self._unavailable(operation, exc) from exc
        return self._result(reply, operation)

    def _result(self, reply: str, operation: str) -> ScanResult:
        try:
            clean, signature = parse_scan_reply(reply)
        except ValueError as exc:
            raise ScanError(self.host, self.port, operation, str(exc)) from exc
        return ScanResult(clean=clean, signature=signature, engine=self._engine())

    def _engine(self) -> str:
        """The version line, asked once per instance (cheap); "clamd" if clamd will not say."""
        if self._version is None:
            try:
                self._version = self.version()
            except ScannerUnavailableError:
                return "clamd"
        return self._version

    def _command(self, command: str) -> str:
        operation = command.removeprefix("z")
        try:
            with self._connect(operation) as sock:
                sock.sendall(command.encode("ascii") + b"\x00")
                return self._read_reply(sock, operation)
        except ScannerUnavailableError:
            raise
        except OSError as exc:
            raise self._unavailable(operation, exc) from exc

    def _connect(self, operation: str) -> socket.socket:
        try:
            return socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise self._unavailable(operation, exc) from exc

    def _read_reply(self, sock: socket.socket, operation: str, *, missing_ok: bool = False) -> str:
        """The NUL-terminated reply of a z-command, bounded to MAX_REPLY_BYTES."""
        buffer = bytearray()
        try:
            while b"\x00" not in buffer:
                part = sock.recv(4096)
                if not part:
                    break
                buffer += part
                if len(buffer) > MAX_REPLY_BYTES:
                    raise ScannerUnavailableError(
                        self.host, self.port, operation, f"reply over {MAX_REPLY_BYTES} bytes"
                    )
        except OSError as exc:
            if missing_ok:
                return ""
            raise self._unavailable(operation, exc) from exc
        reply = bytes(buffer).split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()
        if not reply and not missing_ok:
            raise ScannerUnavailableError(
                self.host, self.port, operation, "connection closed without a reply"
            )
        return reply

    def _unavailable(self, operation: str, exc: OSError) -> ScannerUnavailableError:
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return ScannerUnavailableError(self.host, self.port, operation, reason)
