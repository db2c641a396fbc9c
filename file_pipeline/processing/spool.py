"""A processing run's local copy of the blobs it fetched, so each blob crosses the network once per
run: `virus_scan` writes each file here while streaming it to clamd, the derived stages read it
back. A stage that finds no copy (it runs in another process or pod, or the scan was not part of
the run) fetches the blob itself. The copy is bounded per file; the folder is removed when the
run ends, and folders of runs that died are removed by the next run after an hour.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

STALE_AFTER_SECONDS = 3600.0


def spool_root(configured: str) -> Path:
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "file-pipeline-spool"


class Spool:
    def __init__(self, root: Path, run_id: str) -> None:
        self.root = root
        self.folder = root / run_id

    def path(self, file_id: str) -> Path:
        return self.folder / hashlib.sha256(file_id.encode()).hexdigest()

    def has(self, file_id: str) -> bool:
        return self.path(file_id).is_file()

    @contextlib.contextmanager
    def writer(self, file_id: str) -> Iterator[BinaryIO]:
        """A file to write the blob into; it appears under its name only if the block ends
        without an exception, so a half-written copy is never read."""
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.path(file_id)
        partial = final.with_suffix(".part")
        try:
            with partial.open("wb") as handle:
                yield handle
            partial.replace(final)
        finally:
            partial.unlink(missing_ok=True)

    def discard(self, file_id: str) -> None:
        self.path(file_id).unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def sweep_stale(self, older_than_seconds: float = STALE_AFTER_SECONDS) -> int:
        """Remove other runs' folders untouched for longer than `older_than_seconds`."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for folder in self.root.iterdir():
            if folder != self.folder and folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed


class TeeReader:
    """Reads a stream for a consumer (clamd) while hashing it, counting it and copying it to an
    optional sink: one pass over the bytes serves the scan, the integrity check and the spool."""

    def __init__(self, source: BinaryIO, sink: BinaryIO | None, sink_limit: int) -> None:
        self.source = source
        self.sink = sink
        self.sink_limit = sink_limit
        self.digest = hashlib.sha256()
        self.size = 0
        self.kept = sink is not None
        """Whether the sink holds every byte read (False once the file outgrew `sink_limit`)."""

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.digest.update(data)
        self.size += len(data)
        if self.kept and self.sink is not None:
            if self.size > self.sink_limit:
                self.kept = False  # too big to keep: the copy is abandoned, the scan goes on
            else:
                self.sink.write(data)
        return data

    def drain(self, chunk_size: int = 1024 * 1024) -> None:
        """Read what the consumer left (it stopped early), so the hash and size are complete."""
        while self.read(chunk_size):
            pass

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()
