"""The one clamd client (TCP, the INSTREAM protocol), used by the `virus_scan` stage and by the
local stack's health check. No Dagster here.

The bytes are streamed to clamd in length-prefixed chunks, so a file of any size is scanned with
at most one chunk in memory. Three outcomes are kept apart:
- a verdict: clean, infected (a signature matched), or unscannable (clamd's heuristics say it
  could not look at everything: a limit was exceeded, or the content is encrypted);
- `ScanError`: clamd answered, about this stream, with an error (e.g. over StreamMaxLength): the
  file cannot be scanned, which is that file's failure;
- `ScannerUnavailableError`: no answer at all (clamd down, timed out, a protocol error), a
  dependency outage. Callers never treat "no verdict" as "clean".
"""

from __future__ import annotations

import io
import re
import socket
import struct
from dataclasses import dataclass
from enum import Enum
from typing import BinaryIO

from file_pipeline.errors import DependencyUnavailableError, FilePipelineError

DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_REPLY_BYTES = 64 * 1024
_STREAM_PREFIX = "stream: "
UNSCANNABLE_SIGNATURE_PREFIXES = ("Heuristics.Limits.Exceeded", "Heuristics.Encrypted")
"""What clamd reports (with AlertExceedsMax / AlertEncrypted on) when it could not look at
everything in a file. Without those options the same files come back `OK`, unscanned."""
_VERSION = re.compile(r"^ClamAV (?P<engine>[\w.\-]+)(?:/(?P<database>\d+)(?:/(?P<date>.*))?)?$")


class ScannerUnavailableError(DependencyUnavailableError):
    """clamd gave no answer (unreachable, timed out, protocol error): the file stays pending."""

    dependency = "clamd"

    def __init__(self, host: str, port: int, operation: str, reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"{operation} at {host}:{port}", reason)


class ScanError(FilePipelineError):
    """clamd answered with an error about this stream (e.g. `INSTREAM size limit exceeded`):
    there is no verdict for this file, and asking again will not give one."""

    def __init__(self, host: str, port: int, clamd_message: str) -> None:
        self.clamd_message = clamd_message
        super().__init__(f"clamd at {host}:{port} cannot scan this file: {clamd_message}")


class Verdict(str, Enum):
    CLEAN = "clean"
    INFECTED = "infected"
    UNSCANNABLE = "unscannable"


@dataclass(frozen=True)
class ScanResult:
    verdict: Verdict
    signature: str | None
    engine: str
    """clamd's version line, e.g. `ClamAV 1.4.6/27000/Mon Nov 23 09:00:00 2026`."""

    @property
    def clean(self) -> bool:
        return self.verdict is Verdict.CLEAN


@dataclass(frozen=True)
class EngineVersion:
    engine: str
    database: int | None
    """The signature database's version (the `daily` database's number), None if unknown."""

    @classmethod
    def parse(cls, line: str) -> EngineVersion:
        match = _VERSION.match(line.strip())
        if match is None:
            return cls(line.strip() or "unknown", None)
        database = match.group("database")
        return cls(match.group("engine"), int(database) if database else None)


def parse_scan_reply(reply: str) -> tuple[Verdict, str | None]:
    """(verdict, signature) from a clamd INSTREAM reply; ValueError for an ERROR or unknown reply.

    Replies look like `stream: OK`, `stream: Eicar-Signature FOUND`,
    `stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND` and
    `INSTREAM size limit exceeded. ERROR`.
    """
    text = reply.replace("\x00", "").strip()
    if text.endswith("ERROR"):
        raise ValueError(text)
    body = text[len(_STREAM_PREFIX) :] if text.startswith(_STREAM_PREFIX) else None
    if body == "OK":
        return Verdict.CLEAN, None
    if body is not None and body.endswith(" FOUND"):
        signature = body[: -len(" FOUND")].strip()
        if signature.startswith(UNSCANNABLE_SIGNATURE_PREFIXES):
            return Verdict.UNSCANNABLE, signature
        if signature:
            return Verdict.INFECTED, signature
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
        """True when clamd answers PING with PONG (its signatures are loaded)."""
        try:
            return self._command("zPING") == "PONG"
        except ScannerUnavailableError:
            return False

    def version(self) -> str:
        """clamd's version line, asked now (it changes when the signatures are reloaded)."""
        reply = self._command("zVERSION")
        if not reply:
            raise ScannerUnavailableError(self.host, self.port, "VERSION", "empty reply")
        return reply

    def reload(self) -> str:
        """Ask clamd to reload its signature database (it answers RELOADING and reloads in the
        background)."""
        return self._command("zRELOAD")

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
                        return self._result(reply)
                    raise self._unavailable(operation, exc) from exc
                reply = self._read_reply(sock, operation)
        except ScannerUnavailableError:
            raise
        except OSError as exc:
            raise self._unavailable(operation, exc) from exc
        return self._result(reply)

    def _result(self, reply: str) -> ScanResult:
        try:
            verdict, signature = parse_scan_reply(reply)
        except ValueError as exc:
            raise ScanError(self.host, self.port, str(exc)) from exc
        return ScanResult(verdict=verdict, signature=signature, engine=self._engine())

    def _engine(self) -> str:
        """The version line, asked once per instance; "clamd" if clamd will not say."""
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
