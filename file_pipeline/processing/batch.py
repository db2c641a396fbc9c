"""What every processing stage shares: the batch's work items, per-file isolation when recording,
and the report each stage's asset turns into metadata. No Dagster here.

Per-file isolation by classification: each file's writes happen inside a savepoint. Anything
raised while handling one file is classified (`failures.classify`): a file's failure is recorded
with its reason and exception type, the savepoint is rolled back so nothing partial is left, and
the batch goes on; an outage is retried briefly and then raised, so the run fails and Dagster
retries it, with nothing recorded against the file.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg

from file_pipeline.db import files, outputs
from file_pipeline.db.outputs import StageResult
from file_pipeline.events.offsets import OffsetRange, ReceivedEvent, read_ranges
from file_pipeline.events.schema import PROCESSED_EVENT_TYPES, EventType
from file_pipeline.log import Logger
from file_pipeline.processing.failures import classify
from file_pipeline.states import FileStatus, Outcome, Stage

if TYPE_CHECKING:
    from file_pipeline.resources.kafka import KafkaResource
    from file_pipeline.resources.postgres import PostgresResource

Row = dict[str, Any]
T = TypeVar("T")

OUTAGE_ATTEMPTS = 3
"""Tries for one file when a dependency fails (a blip); after that the run fails."""
OUTAGE_BACKOFF_SECONDS = 1.0
COMMIT_EVERY = 100
"""Files recorded per transaction: fewer round trips, and a delete waits at most one chunk."""


@dataclass(frozen=True)
class WorkItem:
    """One file a run processes, and why: an event from `file-events`, or a reprocess request."""

    file_id: str
    event_type: EventType
    source: str
    """The event's dedup key (eventId, or topic/partition/offset), or `reprocess:<request>`."""
    filename: str
    reprocess: bool = False
    force: bool = False
    """Redo outputs that are already current (a reprocess with force)."""

    @property
    def deleted(self) -> bool:
        return self.event_type is EventType.DELETED

    @classmethod
    def from_event(cls, received: ReceivedEvent) -> WorkItem:
        return cls(
            file_id=received.event.file.id,
            event_type=EventType(received.event.event_type),
            source=received.dedup_key,
            filename=received.event.file.filename,
        )


@dataclass(frozen=True)
class StepOutcome:
    outcome: Outcome
    detail: str
    error_type: str | None = None
    version: str | None = None
    status: FileStatus | None = None
    """The file status this outcome set (the scan's verdict), if it set one."""
    unchanged: bool = False
    """Nothing new for this file (already current, already notified): the outcome recorded
    earlier stands and is not overwritten; the run's report still lists the file."""


@dataclass
class StageReport:
    """What one stage did for each file of the batch (the asset's metadata)."""

    stage: Stage
    started: float = field(default_factory=time.monotonic)
    rows: list[dict[str, Any]] = field(default_factory=list)
    statuses: Counter[FileStatus] = field(default_factory=Counter)

    def add(self, item: WorkItem, outcome: StepOutcome, seconds: float = 0.0) -> None:
        self.rows.append(
            {
                "file_id": item.file_id,
                "filename": item.filename,
                "event": "REPROCESS" if item.reprocess else item.event_type.value,
                "outcome": outcome.outcome.value,
                "detail": outcome.detail,
                "error_type": outcome.error_type or "",
                "seconds": round(seconds, 3),
            }
        )
        if outcome.status is not None:
            self.statuses[outcome.status] += 1

    def count_status(self, status: FileStatus) -> int:
        return self.statuses[status]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for row in self.rows if row["outcome"] == outcome.value)

    def top_failures(self, limit: int = 5) -> list[tuple[str, int]]:
        reasons = Counter(
            f"{row['error_type'] or 'error'}: {row['detail'][:120]}"
            for row in self.rows
            if row["outcome"] == Outcome.FAILED.value
        )
        return reasons.most_common(limit)

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)


class Recorder:
    """Records one stage's outcomes for a batch, one savepoint per file.

    Use `record` for every file; outcomes are upserted together when `commit` is called (every
    COMMIT_EVERY files), with the transaction that holds the files' writes. Actions that must
    only happen once the writes are durable (removing objects) are queued with `after_commit`.
    """

    def __init__(
        self, conn: psycopg.Connection, stage: Stage, run_id: str | None, log: Logger
    ) -> None:
        self.conn = conn
        self.stage = stage
        self.run_id = run_id
        self.log = log
        self.report = StageReport(stage)
        self._results: list[StageResult] = []
        self._after_commit: list[Callable[[], None]] = []
        self._uncommitted = 0

    def record(
        self,
        item: WorkItem,
        write: Callable[[psycopg.Connection], StepOutcome],
        *,
        started: float | None = None,
        keep_result: bool = True,
    ) -> StepOutcome:
        """Run `write` for one file in a savepoint and record its outcome.

        A failure of the file is recorded as such (the savepoint's writes are undone); an outage
        propagates after OUTAGE_ATTEMPTS. `keep_result=False` reports without writing a
        `processing_results` row (e.g. a file with no row at all).
        """
        begun = started if started is not None else time.monotonic()
        outcome = self._attempt(item, write)
        if outcome.outcome is Outcome.FAILED:
            self.log.warning(
                f"{self.stage.value} failed for {item.file_id} ({item.filename}): "
                f"{outcome.error_type or ''} {outcome.detail}"
            )
        if keep_result and not outcome.unchanged:
            self._results.append(
                StageResult(
                    file_id=item.file_id,
                    stage=self.stage,
                    outcome=outcome.outcome,
                    detail=outcome.detail,
                    source_event=item.source,
                    run_id=self.run_id,
                    version=outcome.version,
                    error_type=outcome.error_type,
                )
            )
        self.report.add(item, outcome, time.monotonic() - begun)
        self._uncommitted += 1
        if self._uncommitted >= COMMIT_EVERY:
            self.commit()
        return outcome

    def _attempt(
        self, item: WorkItem, write: Callable[[psycopg.Connection], StepOutcome]
    ) -> StepOutcome:
        for attempt in range(1, OUTAGE_ATTEMPTS + 1):
            try:
                with self.conn.transaction():
                    return write(self.conn)
            except Exception as exc:
                classified = classify(exc)
                if not classified.is_outage:
                    return StepOutcome(Outcome.FAILED, classified.reason, classified.error_type)
                if self.conn.broken or attempt == OUTAGE_ATTEMPTS:
                    raise
                self.log.warning(
                    f"{self.stage.value} {item.file_id}: {classified.outage} unavailable "
                    f"(attempt {attempt} of {OUTAGE_ATTEMPTS}): {classified.reason}"
                )
                time.sleep(OUTAGE_BACKOFF_SECONDS * attempt)
        raise AssertionError("unreachable")

    def after_commit(self, action: Callable[[], None]) -> None:
        self._after_commit.append(action)

    def commit(self) -> None:
        """Upsert the recorded outcomes, commit, then run the queued after-commit actions."""
        outputs.record_results(self.conn, self._results)
        self.conn.commit()
        self._results.clear()
        self._uncommitted = 0
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            action()


def attempt(work: Callable[[], T]) -> T | StepOutcome:
    """Run side-effect-free work for one file (fetching, scanning) outside a transaction:
    its result, or its failure as an outcome; an outage propagates."""
    try:
        return work()
    except Exception as exc:
        classified = classify(exc)
        if classified.is_outage:
            raise
        return StepOutcome(Outcome.FAILED, classified.reason, classified.error_type)


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def not_clean_reason(row: Row | None) -> str | None:
    """Why a file is not a clean, live file (None when it is one)."""
    if row is None:
        return "no row in files for this id"
    if row["deleted_at"] is not None:
        return "file was deleted"
    if row["status"] != FileStatus.CLEAN.value:
        return f"file is {row['status']}, not clean"
    return None


@dataclass
class LoadedBatch:
    """A run's work items, and what it could not find."""

    items: list[WorkItem]
    skipped_messages: int = 0
    missing: list[str] = field(default_factory=list)
    """Offset ranges (or file ids) named by the run that no longer exist."""


PROCESSING_GROUP_ID = "file-pipeline-processing"


def load_event_items(kafka: KafkaResource, topic: str, ranges: list[OffsetRange]) -> LoadedBatch:
    """The events of a run's offset ranges, as work items in offset order per partition.

    Invalid messages and event types other than UPLOADED/DELETED in the ranges were already
    dead-lettered or counted by the sensor; they are skipped here.
    """
    consumer = kafka.consumer(PROCESSING_GROUP_ID)
    try:
        read = read_ranges(consumer, topic, ranges)
    finally:
        consumer.close()
    items = [
        WorkItem.from_event(received)
        for received in read.events
        if received.event.known_type in PROCESSED_EVENT_TYPES
    ]
    return LoadedBatch(
        items=items,
        skipped_messages=len(read.rejected) + len(read.events) - len(items),
        missing=[r.label() for r in read.missing],
    )


def reprocess_items(
    postgres: PostgresResource, file_ids: Sequence[str], source: str, *, force: bool
) -> LoadedBatch:
    """Work items for a reprocess batch; ids with no row are reported, not processed."""
    with postgres.connection() as conn:
        rows = files.get_files(conn, list(dict.fromkeys(file_ids)))
    items = [
        WorkItem(
            file_id=file_id,
            event_type=EventType.UPLOADED,
            source=source,
            filename=rows[file_id]["filename"],
            reprocess=True,
            force=force,
        )
        for file_id in dict.fromkeys(file_ids)
        if file_id in rows
    ]
    return LoadedBatch(items=items, missing=[i for i in file_ids if i not in rows])
