"""Decoding files on worker processes: every core busy, every file within a time and memory
budget, and a decoder that crashes or hangs on a hostile file costs that file only.

Each worker runs `derive.derive` for one file at a time under an address-space limit (a file that
needs more fails with MemoryError, in that worker); a file still running when its time budget is
spent has its worker killed and replaced. Workers are recycled after a number of files, so a
leak in a decoder cannot grow without bound. With `workers=0` files are derived in the calling
process instead (no isolation: for debugging).

The decoders are imported by the workers (the forkserver preloads them once), never by the
process that owns the pool: a run's process and the code server load the code location without
Pillow, pypdf or the sensitive-data validators, which is that much less of every run's start.

A file can be scheduled ahead (`schedule_ahead`): the scan hands over each file it finds clean
while the rest of the batch is still being scanned, so the workers are busy from the first clean
file on instead of from the end of the scan; `derive_all` takes that result when it asks for the
same request.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, TimeoutError, as_completed

from pebble import ProcessExpired, ProcessPool

from file_pipeline.processing.products import DeriveRequest, Product
from file_pipeline.states import Outcome, Stage

DECODERS = ["file_pipeline.processing.derive", "pypdf"]
"""What each worker has loaded before its first file (the forkserver imports it once)."""
FILES_PER_WORKER = 200
"""Files a worker process handles before it is replaced (bounds leaks in native decoders)."""
TIMEOUT_GRACE_SECONDS = 5.0
"""The text extractor stops itself at the budget; the kill comes this much later."""


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _limit_memory(limit_bytes: int) -> None:
    if limit_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


class DeriveWorkers:
    """A pool of decoding processes for one processing run (use as a context manager)."""

    def __init__(
        self,
        workers: int,
        memory_limit_bytes: int,
        *,
        timeout_grace_seconds: float = TIMEOUT_GRACE_SECONDS,
    ) -> None:
        self.workers = workers
        self.timeout_grace_seconds = timeout_grace_seconds
        self._pool: ProcessPool | None = None
        self._ahead: dict[str, tuple[DeriveRequest, Future[dict[Stage, Product]]]] = {}
        self._ahead_lock = threading.Lock()
        self.taken_ahead = 0
        """Files whose decode, started ahead, `derive_all` took (the rest were decoded anew)."""
        if workers > 0:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(DECODERS)
            self._pool = ProcessPool(
                max_workers=workers,
                max_tasks=FILES_PER_WORKER,
                initializer=_limit_memory,
                initargs=(memory_limit_bytes,),
                context=context,
            )

    def __enter__(self) -> DeriveWorkers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the worker processes now rather than on the first file (starting the forkserver
        and importing the decoders takes about half a second)."""
        if self._pool is not None:
            with contextlib.suppress(RuntimeError):  # closed meanwhile: nothing to start
                self._pool.schedule(os.getpid)

    def schedule_ahead(self, request: DeriveRequest) -> bool:
        """Start decoding `request` now, before `derive_all` asks for it; False when there is
        nothing to start it on (no worker processes, or the pool is closed)."""
        if self._pool is None:
            return False
        with self._ahead_lock:
            if request.file_id in self._ahead:
                return True
            try:
                future = self._schedule(request)
            except RuntimeError:  # the pool was closed meanwhile
                return False
            self._ahead[request.file_id] = (request, future)
        return True

    def _schedule(self, request: DeriveRequest) -> Future[dict[Stage, Product]]:
        assert self._pool is not None
        return self._pool.schedule(
            derive_in_worker,
            args=(request,),
            timeout=request.time_budget_seconds + self.timeout_grace_seconds,
        )

    def _take_ahead(self, request: DeriveRequest) -> Future[dict[Stage, Product]] | None:
        """The future of a file scheduled ahead with exactly this request; one scheduled with
        another request (other stages) is cancelled and the file scheduled again."""
        with self._ahead_lock:
            ahead = self._ahead.pop(request.file_id, None)
        if ahead is None:
            return None
        scheduled, future = ahead
        if scheduled == request:
            self.taken_ahead += 1
            return future
        future.cancel()
        return None

    def close(self) -> None:
        with self._ahead_lock:
            for _, future in self._ahead.values():
                future.cancel()
            self._ahead.clear()
        if self._pool is not None:
            self._pool.stop()
            self._pool.join(timeout=30)
            self._pool = None

    def derive_all(
        self, requests: Sequence[DeriveRequest]
    ) -> Iterator[tuple[DeriveRequest, dict[Stage, Product]]]:
        """Each request with its products, in the order they finish."""
        if self._pool is None:
            for request in requests:
                yield request, derive_in_worker(request)
            return
        futures: dict[Future[dict[Stage, Product]], DeriveRequest] = {
            self._take_ahead(request) or self._schedule(request): request for request in requests
        }
        for future in as_completed(futures):
            request = futures[future]
            yield request, _products(request, future)


def derive_in_worker(request: DeriveRequest) -> dict[Stage, Product]:
    """`derive.derive`, imported where it runs (preloaded in the workers: no cost there)."""
    from file_pipeline.processing.derive import derive

    return derive(request)


def _products(request: DeriveRequest, future: Future[dict[Stage, Product]]) -> dict[Stage, Product]:
    try:
        return future.result()
    except TimeoutError:
        reason = f"over the time budget of {request.time_budget_seconds:g} s: stopped"
        error_type = "TimeoutError"
    except ProcessExpired as exc:
        reason = f"the decoding process died ({exc}): the file crashed a decoder"
        error_type = "ProcessExpired"
    except Exception as exc:  # what the worker returned could not come back (e.g. pickling)
        reason = f"{type(exc).__name__}: {exc}"
        error_type = type(exc).__name__
    return dict.fromkeys(request.stages, Product(Outcome.FAILED, reason, error_type))
