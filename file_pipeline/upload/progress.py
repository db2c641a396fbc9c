"""Progress reporting from an in-process run to whoever launched it (the CLI's progress bar).

A run launched by `file-pipeline upload` executes in the CLI's own process; the upload asset
reports each stored file here, and the CLI draws the bar. Runs launched from the UI have no
listener, and reporting is a no-op.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[int, int], None]

_lock = threading.Lock()
_listener: Listener | None = None


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    global _listener
    with _lock:
        _listener = listener
    try:
        yield
    finally:
        with _lock:
            _listener = None


def report(done: int, total: int) -> None:
    with _lock:
        listener = _listener
    if listener is not None:
        listener(done, total)
