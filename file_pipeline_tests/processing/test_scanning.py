import io
import socket
import struct
import threading

import pytest

from file_pipeline import settings
from file_pipeline.processing.scanning import (
    ClamdScanner,
    ScanError,
    ScannerUnavailableError,
    Verdict,
    parse_scan_reply,
)

pytestmark = pytest.mark.stack

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
HOST = "127.0.0.1"


@pytest.fixture
def scanner(stack: None) -> ClamdScanner:
    return ClamdScanner(HOST, settings.CLAMAV_PORT, timeout=30.0)


def test_ping_and_version(scanner: ClamdScanner) -> None:
    assert scanner.ping() is True
    assert scanner.version().startswith("ClamAV ")


def test_eicar_is_detected(scanner: ClamdScanner) -> None:
    result = scanner.scan_bytes(EICAR)
    assert not result.clean
    assert result.signature is not None and "EICAR" in result.signature
    assert result.engine.startswith("ClamAV ")


def test_clean_bytes_are_clean(scanner: ClamdScanner) -> None:
    result = scanner.scan_bytes(b"just a harmless text file\n" * 100)
    assert result.clean
    assert result.signature is None


def test_empty_stream_is_clean(scanner: ClamdScanner) -> None:
    assert scanner.scan_bytes(b"").clean


def test_eicar_split_across_chunks_is_detected(stack: None) -> None:
    small_chunks = ClamdScanner(HOST, settings.CLAMAV_PORT, chunk_size=7)
    # EICAR starts mid-chunk (1003 = 143 * 7 + 2) and its 68 bytes span ten chunk boundaries.
    payload = b"A" * 1003 + EICAR + b"B" * 2001
    result = small_chunks.scan_stream(io.BytesIO(payload))
    assert not result.clean
    assert result.signature is not None and "EICAR" in result.signature


class _CountingReader(io.RawIOBase):
    """A stream of `size` bytes that records the largest read asked of it."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.largest_read = max(self.largest_read, n)
        assert n > 0, "the scanner must never read the whole stream at once"
        count = min(n, self.remaining)
        self.remaining -= count
        return b"x" * count


def test_stream_is_read_in_bounded_chunks(stack: None) -> None:
    stream = _CountingReader(5 * 1024 * 1024)
    result = ClamdScanner(HOST, settings.CLAMAV_PORT, chunk_size=32 * 1024).scan_stream(stream)
    assert result.clean
    assert stream.remaining == 0
    assert stream.largest_read == 32 * 1024


def test_nothing_listening_is_unavailable() -> None:
    scanner = ClamdScanner(HOST, 1, timeout=2.0)
    assert scanner.ping() is False
    with pytest.raises(ScannerUnavailableError, match=r"127\.0\.0\.1:1"):
        scanner.scan_bytes(EICAR)
    with pytest.raises(ScannerUnavailableError):
        scanner.version()


def test_silent_server_times_out() -> None:
    with socket.socket() as server:
        server.bind((HOST, 0))
        server.listen()
        scanner = ClamdScanner(HOST, server.getsockname()[1], timeout=0.5)
        with pytest.raises(ScannerUnavailableError, match="timed out"):
            scanner.scan_bytes(b"hello")


def test_clamd_size_limit_reply_is_a_scan_error(stack: None) -> None:
    # A chunk header larger than StreamMaxLength makes the real clamd answer with its ERROR reply.
    with socket.create_connection((HOST, settings.CLAMAV_PORT), timeout=30) as sock:
        sock.sendall(b"zINSTREAM\x00" + struct.pack(">I", 0xFFFFFFF0))
        reply = sock.recv(4096).split(b"\x00", 1)[0].decode()
    assert "size limit exceeded" in reply
    with pytest.raises(ValueError, match="size limit exceeded"):
        parse_scan_reply(reply)


def test_error_reply_mid_stream_raises_scan_error() -> None:
    # Like clamd past StreamMaxLength: reply ERROR after the first chunk and close the connection,
    # so the scanner's further sends fail and it must report the reply, not the broken pipe.
    limit_reply = b"INSTREAM size limit exceeded. ERROR\x00"
    with socket.socket() as server:
        server.bind((HOST, 0))
        server.listen()

        def answer_with_error() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(len(b"zINSTREAM\x00") + 4 + 1024)
                conn.sendall(limit_reply)
                conn.shutdown(socket.SHUT_WR)

        thread = threading.Thread(target=answer_with_error, daemon=True)
        thread.start()
        scanner = ClamdScanner(HOST, server.getsockname()[1], timeout=5.0, chunk_size=1024)
        with pytest.raises(ScanError, match="size limit exceeded") as caught:
            scanner.scan_stream(io.BytesIO(b"y" * 8 * 1024 * 1024))
        thread.join(timeout=5)
    assert not isinstance(caught.value, ScannerUnavailableError), "this file's problem, not clamd's"
    assert "size limit exceeded" in caught.value.clamd_message


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("stream: OK", (Verdict.CLEAN, None)),
        ("stream: Eicar-Signature FOUND\x00", (Verdict.INFECTED, "Eicar-Signature")),
        ("stream: Win.Test.EICAR_HDB-1 FOUND", (Verdict.INFECTED, "Win.Test.EICAR_HDB-1")),
        (
            "stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
            (Verdict.UNSCANNABLE, "Heuristics.Limits.Exceeded.MaxFileSize"),
        ),
        (
            "stream: Heuristics.Encrypted.Zip FOUND",
            (Verdict.UNSCANNABLE, "Heuristics.Encrypted.Zip"),
        ),
        (
            "stream: Heuristics.Phishing.Email.SpoofedDomain FOUND",
            (Verdict.INFECTED, "Heuristics.Phishing.Email.SpoofedDomain"),
        ),
    ],
)
def test_parse_scan_reply(reply: str, expected: tuple[Verdict, str | None]) -> None:
    assert parse_scan_reply(reply) == expected


@pytest.mark.parametrize("reply", ["", "stream: FOUND", "PONG", "lstat() failed. ERROR"])
def test_parse_scan_reply_rejects_anything_else(reply: str) -> None:
    with pytest.raises(ValueError):
        parse_scan_reply(reply)
