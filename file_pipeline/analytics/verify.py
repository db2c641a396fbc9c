"""Do PostgreSQL, the bucket and Kafka agree? The invariants `file-pipeline verify` and the
data-health asset checks test, and the repairs that are safe to make without a person.

Each check looks at every subject it covers and names each violation (a file id, an object key,
the outbox or the topic), so a person can act on it:

- `blob_present`: every live row has its blob with the recorded size (with `deep`, the streamed
  bytes' sha256 equals the recorded one, where one is recorded).
- `renditions_present`: a live clean image whose thumbnails outcome is done or partial has a row
  for every configured rendition, and every rendition row's object exists.
- `index_present`: a live clean file whose search_index outcome is done or partial has its entry.
- `no_outputs_of_deleted_files`: nothing of a deleted file is left but its row: no output rows,
  no renditions (nor renditions of infected or unknown files), no blob only deleted rows use.
- `no_orphan_objects`: no object under uploads/, thumbnails/ or quarantine/ that no row accounts
  for, past the grace period. A rendition of an unknown file breaks this invariant and the one
  above, and is named under both (each check stands alone as an asset check).
- `outbox_drained`: no event waits unsent for longer than a few minutes.
- `consumer_lag_bounded`: the events sensor is not too far behind the topic.

A clean image or file with no outcome at all (or only `skipped`, from before it was clean) is
"not processed", once it is older than the grace period: younger ones may still be in flight.
A recorded failure is not a violation here: it is reported where failures are (`status`).

Suspects are confirmed before they are reported (the row read again, the object asked for by
key), so an upload or a delete running alongside is not mistaken for damage. No Dagster here:
the CLI and the asset checks bind these functions to resources.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from file_pipeline.analytics.reconciliation import ReconcileResult, reconcile
from file_pipeline.db import files as file_rows
from file_pipeline.db import outbox
from file_pipeline.db import verify as queries
from file_pipeline.errors import KafkaUnavailableError, ObjectStoreError, TopicNotFoundError
from file_pipeline.events.cursor import SensorCursor, starting_point
from file_pipeline.events.offsets import Deadline, topic_partitions, watermarks
from file_pipeline.log import Logger
from file_pipeline.processing.reprocess import (
    DEFAULT_BATCH_SIZE,
    ReprocessQuery,
    Selection,
    plan_reprocess,
    request_reprocess,
)
from file_pipeline.states import FileStatus, Outcome, Stage
from file_pipeline.upload.keys import QUARANTINE_PREFIX, THUMBNAILS_PREFIX, UPLOADS_PREFIX

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from file_pipeline.resources.kafka import KafkaResource
    from file_pipeline.resources.postgres import PostgresResource
    from file_pipeline.resources.storage import ObjectStorageResource

LOG = logging.getLogger(__name__)
LOG.addHandler(logging.NullHandler())

BLOB_PRESENT = "blob_present"
RENDITIONS_PRESENT = "renditions_present"
INDEX_PRESENT = "index_present"
NO_OUTPUTS_OF_DELETED_FILES = "no_outputs_of_deleted_files"
NO_ORPHAN_OBJECTS = "no_orphan_objects"
OUTBOX_DRAINED = "outbox_drained"
CONSUMER_LAG_BOUNDED = "consumer_lag_bounded"
CHECKS = (
    BLOB_PRESENT,
    RENDITIONS_PRESENT,
    INDEX_PRESENT,
    NO_OUTPUTS_OF_DELETED_FILES,
    NO_ORPHAN_OBJECTS,
    OUTBOX_DRAINED,
    CONSUMER_LAG_BOUNDED,
)

DEFAULT_GRACE_SECONDS = 3600
DEFAULT_MAX_LAG = 10_000
DEFAULT_OUTBOX_MINUTES = 5.0
LAG_TIMEOUT_SECONDS = 10.0
FILE_EVENTS_SENSOR = "file_events_sensor"
LAG_GROUP_ID = "file-pipeline-verify"
REPAIR_SOURCE = "verify"
HASH_CHUNK = 1024 * 1024
HASH_CONCURRENCY = 4
DONE_OUTCOMES = (Outcome.DONE.value, Outcome.PARTIAL.value)

SubjectType = Literal["file", "object", "outbox", "topic"]


@dataclass(frozen=True)
class Violation:
    """One broken invariant: which check, about what (a file id, an object key, the outbox or
    the topic), what is wrong, and whether `repair` may fix it."""

    check: str
    subject: str
    detail: str
    repairable: bool
    subject_type: SubjectType = "file"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckResult:
    """What one check looked at and what it found."""

    name: str
    checked: int = 0
    violations: list[Violation] = field(default_factory=list)
    note: str | None = None
    """A remark on the check as a whole (e.g. the lag measured, or why it is unknown)."""

    @property
    def passed(self) -> bool:
        return not self.violations


@dataclass
class VerifyReport:
    violations: list[Violation] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    """How many subjects each check examined (rows, files, objects or events)."""
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, result: CheckResult) -> None:
        self.checked[result.name] = result.checked
        self.violations.extend(result.violations)
        if result.note:
            self.notes[result.name] = result.note

    def of(self, check: str) -> list[Violation]:
        return [v for v in self.violations if v.check == check]

    @property
    def passed(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": {
                name: {
                    "checked": checked,
                    "passed": not self.of(name),
                    "violations": [v.to_dict() for v in self.of(name)],
                    "note": self.notes.get(name),
                }
                for name, checked in self.checked.items()
            },
            "violations": [v.to_dict() for v in self.violations],
        }


def object_sizes(storage: ObjectStorageResource, prefixes: Iterable[str]) -> dict[str, int]:
    """key -> size of every object under `prefixes` (one listing, page by page)."""
    return {
        obj["Key"]: int(obj["Size"]) for prefix in prefixes for obj in storage.list_objects(prefix)
    }


def _still_live(postgres: PostgresResource, file_ids: Collection[str]) -> dict[str, dict]:
    """The rows of these files that are still live, read again now."""
    if not file_ids:
        return {}
    with postgres.connection() as conn:
        rows = file_rows.get_files(conn, list(file_ids))
    return {file_id: row for file_id, row in rows.items() if row["deleted_at"] is None}


def _in_row_order(result: CheckResult, rows: list[dict]) -> None:
    """Order violations as the rows were read (newest files first), whatever order the
    confirmations found them in."""
    rank = {row["id"]: position for position, row in enumerate(rows)}
    result.violations.sort(key=lambda v: rank.get(v.subject, len(rank)))


def _sha256(storage: ObjectStorageResource, key: str) -> str:
    body = storage.open_stream(key)
    digest = hashlib.sha256()
    try:
        while chunk := body.read(HASH_CHUNK):
            digest.update(chunk)
    finally:
        body.close()
    return digest.hexdigest()


def check_blobs(
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    *,
    deep: bool,
    sizes: Mapping[str, int] | None = None,
) -> CheckResult:
    """`blob_present`: every live row's blob exists with the recorded size; with `deep`, its
    bytes hash to the recorded sha256. `sizes` is a listing already made (key -> size)."""
    result = CheckResult(BLOB_PRESENT)
    with postgres.connection() as conn:
        rows = queries.live_blobs(conn)
    result.checked = len(rows)
    if sizes is None:
        sizes = object_sizes(storage, (UPLOADS_PREFIX, QUARANTINE_PREFIX))
    suspects = {row["id"] for row in rows if sizes.get(row["s3_key"]) != row["file_size"]}
    for file_id, row in _still_live(postgres, suspects).items():
        size = storage.size(row["s3_key"])
        if size is None:
            detail = f"blob missing: {row['s3_key']}"
        elif size != row["file_size"]:
            detail = f"blob is {size} bytes, the row records {row['file_size']}: {row['s3_key']}"
        else:
            continue
        result.violations.append(Violation(BLOB_PRESENT, file_id, detail, repairable=False))
    if deep:
        reported = {v.subject for v in result.violations}
        to_hash = [row for row in rows if row["sha256"] and row["id"] not in reported]
        result.violations.extend(_hash_mismatches(storage, postgres, to_hash))
    _in_row_order(result, rows)
    return result


def _hash_mismatches(
    storage: ObjectStorageResource, postgres: PostgresResource, rows: list[dict]
) -> list[Violation]:
    """Stream each blob (a few at once, bounded memory) and compare with the recorded hash."""

    def digest(row: dict) -> tuple[dict, str | None, str | None]:
        try:
            return row, _sha256(storage, row["s3_key"]), None
        except ObjectStoreError as exc:
            return row, None, str(exc)

    suspects: dict[str, tuple[str | None, str | None]] = {}
    with ThreadPoolExecutor(HASH_CONCURRENCY) as pool:
        for row, found, error in pool.map(digest, rows):
            if error is not None or found != row["sha256"].strip():
                suspects[row["id"]] = (found, error)
    violations = []
    recorded = {row["id"]: row for row in rows}
    for file_id, row in _still_live(postgres, suspects).items():
        if row["s3_key"] != recorded[file_id]["s3_key"]:
            continue  # moved (to quarantine) while it was read: the next run judges it
        found, error = suspects[file_id]
        if error is not None:
            detail = f"cannot read the blob {row['s3_key']}: {error}"
        else:
            detail = (
                f"blob's sha256 {found} differs from the recorded {row['sha256'].strip()}: "
                f"{row['s3_key']}"
            )
        violations.append(Violation(BLOB_PRESENT, file_id, detail, repairable=False))
    return violations


def _not_processed(stage: Stage, row: dict, grace_seconds: float) -> str | None:
    """Why a file the stage applies to counts as never processed (None: it does not, or it is
    still within the grace period)."""
    if row["age_seconds"] < grace_seconds:
        return None
    if row["outcome"] is None:
        return f"not processed: no {stage.value} outcome"
    return f"not processed since it became clean ({stage.value} {row['outcome']}: {row['detail']})"


def _rendition_problems(
    renditions: Mapping[str, str], configured: Collection[str], present: Collection[str]
) -> list[str]:
    problems = [
        f"no row for rendition {name}" for name in sorted(set(configured) - set(renditions))
    ]
    problems += [
        f"object of rendition {name} missing: {key}"
        for name, key in sorted(renditions.items())
        if key not in present
    ]
    return problems


def check_renditions(
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    *,
    configured_renditions: Collection[str],
    grace_seconds: float,
    thumbnail_keys: Collection[str] | None = None,
) -> CheckResult:
    """`renditions_present`: a live clean image with thumbnails done (or partial) has a row for
    every configured rendition and each row's object; one with no outcome is not processed.
    `thumbnail_keys` is a listing of thumbnails/ already made."""
    result = CheckResult(RENDITIONS_PRESENT)
    with postgres.connection() as conn:
        rows = queries.clean_images(conn)
    result.checked = len(rows)
    if thumbnail_keys is None:
        thumbnail_keys = set(storage.list_keys(THUMBNAILS_PREFIX))
    suspects: list[str] = []
    for row in rows:
        if row["outcome"] in DONE_OUTCOMES:
            if _rendition_problems(row["renditions"], configured_renditions, thumbnail_keys):
                suspects.append(row["id"])
        elif row["outcome"] != Outcome.FAILED.value:
            reason = _not_processed(Stage.THUMBNAILS, row, grace_seconds)
            if reason is not None:
                result.violations.append(Violation(RENDITIONS_PRESENT, row["id"], reason, True))
    if not suspects:
        _in_row_order(result, rows)
        return result
    live = _still_live(postgres, suspects)
    with postgres.connection() as conn:
        now = queries.rendition_keys(conn, list(live))
    for file_id in suspects:
        row = live.get(file_id)
        if row is None or row["status"] != FileStatus.CLEAN.value:
            continue
        renditions = now.get(file_id, {})
        present = {key for key in renditions.values() if storage.exists(key)}
        problems = _rendition_problems(renditions, configured_renditions, present)
        if problems:
            result.violations.append(
                Violation(RENDITIONS_PRESENT, file_id, "; ".join(problems), repairable=True)
            )
    _in_row_order(result, rows)
    return result


def check_index(postgres: PostgresResource, *, grace_seconds: float) -> CheckResult:
    """`index_present`: a live clean file with search_index done (or partial) has its entry; one
    with no outcome is not processed. One snapshot of the table: nothing to confirm."""
    result = CheckResult(INDEX_PRESENT)
    with postgres.connection() as conn:
        rows = queries.clean_files_indexed(conn)
    result.checked = len(rows)
    for row in rows:
        if row["outcome"] in DONE_OUTCOMES:
            if not row["indexed"]:
                detail = f"search_index {row['outcome']} but the file has no entry"
                result.violations.append(Violation(INDEX_PRESENT, row["id"], detail, True))
        elif row["outcome"] != Outcome.FAILED.value:
            reason = _not_processed(Stage.SEARCH_INDEX, row, grace_seconds)
            if reason is not None:
                result.violations.append(Violation(INDEX_PRESENT, row["id"], reason, True))
    return result


def _object_detail(key: str, orphan: bool) -> str:
    if key.startswith(THUMBNAILS_PREFIX):
        if orphan:
            return "rendition of a file no row knows"
        return "rendition of a file that is deleted or not clean"
    if orphan:
        return "no row accounts for this object (older than the grace period)"
    return "blob only deleted rows point at"


def check_deleted_outputs(postgres: PostgresResource, found: ReconcileResult) -> CheckResult:
    """`no_outputs_of_deleted_files`: output rows of deleted files, objects only deleted rows use,
    renditions of deleted, infected or unknown files (from a reconciliation dry run)."""
    result = CheckResult(NO_OUTPUTS_OF_DELETED_FILES)
    with postgres.connection() as conn:
        result.checked = queries.deleted_file_count(conn) + found.blobs_checked
        rows = queries.outputs_of_deleted_files(conn)
    for row in rows:
        tables = ", ".join(
            f"{table} ({row[table]})" for table in queries.OUTPUT_TABLES if row[table]
        )
        result.violations.append(
            Violation(
                NO_OUTPUTS_OF_DELETED_FILES, row["id"], f"deleted file has rows in {tables}", True
            )
        )
    for key in found.leftovers:
        result.violations.append(
            Violation(NO_OUTPUTS_OF_DELETED_FILES, key, _object_detail(key, False), True, "object")
        )
    for key in found.orphans:
        if key.startswith(THUMBNAILS_PREFIX):
            result.violations.append(
                Violation(
                    NO_OUTPUTS_OF_DELETED_FILES, key, _object_detail(key, True), True, "object"
                )
            )
    return result


def check_orphans(found: ReconcileResult) -> CheckResult:
    """`no_orphan_objects`: objects no row accounts for, past the grace period."""
    result = CheckResult(NO_ORPHAN_OBJECTS, checked=found.blobs_checked)
    result.violations = [
        Violation(NO_ORPHAN_OBJECTS, key, _object_detail(key, True), True, "object")
        for key in found.orphans
    ]
    if found.orphans_in_grace:
        result.note = f"{len(found.orphans_in_grace)} objects without a row are in grace"
    return result


def check_outbox(postgres: PostgresResource, *, outbox_minutes: float) -> CheckResult:
    """`outbox_drained`: no event unsent for more than `outbox_minutes`."""
    result = CheckResult(OUTBOX_DRAINED)
    with postgres.connection() as conn:
        result.checked = outbox.unsent_backlog(conn).count
        stuck = outbox.unsent_backlog(conn, older_than_seconds=outbox_minutes * 60)
    if stuck.count:
        detail = (
            f"{stuck.count} events unsent for more than {outbox_minutes:g} minutes (oldest: "
            f"outbox #{stuck.oldest_id}, {stuck.oldest_created_at})"
        )
        result.violations.append(Violation(OUTBOX_DRAINED, "outbox", detail, False, "outbox"))
    return result


def check_consumer_lag(
    lag: int | None, *, max_lag: int, topic: str, lag_error: str | None = None
) -> CheckResult:
    """`consumer_lag_bounded`: the sensor is at most `max_lag` events behind. An unknown lag is a
    violation only when Kafka could not be asked (`lag_error`); without a sensor cursor there
    is nothing to measure."""
    result = CheckResult(CONSUMER_LAG_BOUNDED)
    if lag is None:
        if lag_error is not None:
            detail = f"consumer lag unknown: {lag_error}"
            result.violations.append(Violation(CONSUMER_LAG_BOUNDED, topic, detail, False, "topic"))
        else:
            result.note = f"lag unknown: {FILE_EVENTS_SENSOR} has no cursor on this instance"
        return result
    result.checked = 1
    result.note = f"lag {lag}"
    if lag > max_lag:
        detail = f"{lag} events not yet read by {FILE_EVENTS_SENSOR} (more than {max_lag})"
        result.violations.append(Violation(CONSUMER_LAG_BOUNDED, topic, detail, False, "topic"))
    return result


def verify(
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    *,
    configured_renditions: set[str],
    deep: bool,
    grace_seconds: float,
    lag: int | None,
    max_lag: int,
    outbox_minutes: float,
    lag_error: str | None = None,
    topic: str = "file-events",
    log: Logger = LOG,
) -> VerifyReport:
    """Every check, over every row and object; the bucket is listed once for the blob and
    rendition checks and once more by the reconciliation dry run."""
    report = VerifyReport()
    sizes = object_sizes(storage, (UPLOADS_PREFIX, QUARANTINE_PREFIX, THUMBNAILS_PREFIX))
    report.add(check_blobs(storage, postgres, deep=deep, sizes=sizes))
    report.add(
        check_renditions(
            storage,
            postgres,
            configured_renditions=configured_renditions,
            grace_seconds=grace_seconds,
            thumbnail_keys={key for key in sizes if key.startswith(THUMBNAILS_PREFIX)},
        )
    )
    report.add(check_index(postgres, grace_seconds=grace_seconds))
    found = reconcile(storage, postgres, grace_seconds=grace_seconds, log=log, dry_run=True)
    report.add(check_deleted_outputs(postgres, found))
    report.add(check_orphans(found))
    report.add(check_outbox(postgres, outbox_minutes=outbox_minutes))
    report.add(check_consumer_lag(lag, max_lag=max_lag, topic=topic, lag_error=lag_error))
    return report


@dataclass
class RepairReport:
    """What `repair` did, and the violations it left (not repairable, or not fixed)."""

    reprocess_request_id: int | None = None
    reprocessed_files: list[str] = field(default_factory=list)
    reprocess_stages: list[str] = field(default_factory=list)
    left_alone: dict[str, int] = field(default_factory=dict)
    """Files the reprocess plan left alone, by reason (e.g. deleted since)."""
    removed_objects: list[str] = field(default_factory=list)
    removed_output_rows: int = 0
    remaining: list[Violation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "remaining": [v.to_dict() for v in self.remaining]}


_REDONE_BY = {RENDITIONS_PRESENT: Stage.THUMBNAILS, INDEX_PRESENT: Stage.SEARCH_INDEX}


def repair(
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    report: VerifyReport,
    *,
    grace_seconds: float,
    versions: Mapping[Stage, str | None],
    log: Logger = LOG,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> RepairReport:
    """Fix the safe violations of `report`:

    - missing renditions or index entries: one reprocess request (source "verify") of the
      affected files and stages, forced (the stage's outcome says done: only a forced run
      makes the outputs again), which `reprocess_sensor` launches as processing runs;
    - output rows of deleted files: removed;
    - orphans and leftovers past the grace period: removed (a reconciliation run).

    A missing or changed blob, a stuck outbox or a lagging sensor is not repairable here; a file
    whose blob is missing or changed is not re-driven either (its outputs cannot be made from
    it), and stays among the remaining violations.
    """
    done = RepairReport()
    fixed: set[tuple[str, str]] = set()
    repairable = [v for v in report.violations if v.repairable]

    broken_blobs = {v.subject for v in report.of(BLOB_PRESENT)}
    redo = [v for v in repairable if v.check in _REDONE_BY and v.subject not in broken_blobs]
    if redo:
        wanted = {_REDONE_BY[v.check] for v in redo}
        query = ReprocessQuery(
            stages=tuple(stage for stage in Stage if stage in wanted),
            selection=Selection.IDS,
            file_ids=tuple(dict.fromkeys(v.subject for v in redo)),
            force=True,
        )
        with postgres.connection() as conn:
            plan = plan_reprocess(conn, query, versions)
            done.reprocess_request_id = request_reprocess(
                conn, plan, source=REPAIR_SOURCE, batch_size=batch_size
            )
        done.reprocessed_files = list(plan.file_ids)
        done.reprocess_stages = [stage.value for stage in plan.stages]
        done.left_alone = dict(plan.skipped.most_common())
        selected = set(plan.file_ids)
        fixed |= {(v.check, v.subject) for v in redo if v.subject in selected}
        log.info(
            f"requested reprocess {done.reprocess_request_id} of {len(plan.file_ids)} files "
            f"in stages {', '.join(done.reprocess_stages)}"
        )

    rows = [v for v in repairable if v.check == NO_OUTPUTS_OF_DELETED_FILES]
    rows = [v for v in rows if v.subject_type == "file"]
    if rows:
        with postgres.connection() as conn:
            done.removed_output_rows = queries.delete_outputs_of_deleted_files(
                conn, [v.subject for v in rows]
            )
        fixed |= {(v.check, v.subject) for v in rows}

    if any(v.subject_type == "object" for v in repairable):
        found = reconcile(storage, postgres, grace_seconds=grace_seconds, log=log, dry_run=False)
        done.removed_objects = found.removable
        removed = set(found.removable)
        fixed |= {(v.check, v.subject) for v in repairable if v.subject in removed}

    done.remaining = [v for v in report.violations if (v.check, v.subject) not in fixed]
    return done


def consumer_lag(
    kafka: KafkaResource, cursor_text: str | None, *, timeout_seconds: float = LAG_TIMEOUT_SECONDS
) -> int | None:
    """Events on the topic that `file_events_sensor`, resuming from `cursor_text`, has not read:
    per partition, the high watermark minus where the sensor would resume (as it would: from
    the first offset when the topic was recreated, past offsets retention deleted). None when
    there is no cursor (the sensor never ticked). Raises KafkaUnavailableError or
    TopicNotFoundError when Kafka cannot say."""
    cursor = SensorCursor.parse(cursor_text)
    if cursor is None:
        return None
    topic = kafka.file_events_topic
    deadline = Deadline(timeout_seconds)
    topic_id = kafka.topic_id(topic, timeout_seconds=max(0.1, deadline.remaining()))
    start = starting_point(cursor, topic, topic_id)
    consumer = kafka.consumer(LAG_GROUP_ID)
    try:
        lag = 0
        for partition in topic_partitions(consumer, topic, deadline):
            low, high = watermarks(consumer, topic, partition, deadline)
            resume = start.offsets.get(partition, low)
            if start.restart_from_beginning or resume > high:
                resume = low
            lag += max(0, high - max(resume, low))
        return lag
    finally:
        consumer.close()


@dataclass(frozen=True)
class LagReading:
    """The consumer lag, or why Kafka could not say (lag None, error None: no cursor)."""

    lag: int | None
    error: str | None = None


def read_consumer_lag(
    kafka: KafkaResource, cursor_text: str | None, *, timeout_seconds: float = LAG_TIMEOUT_SECONDS
) -> LagReading:
    try:
        return LagReading(consumer_lag(kafka, cursor_text, timeout_seconds=timeout_seconds))
    except (KafkaUnavailableError, TopicNotFoundError) as exc:
        return LagReading(None, str(exc))


def sensor_cursor(instance: DagsterInstance, sensor_name: str = FILE_EVENTS_SENSOR) -> str | None:
    """The cursor the daemon stored for a sensor on this instance (None: it never ticked here).
    With several code locations' states of that name, the one that ticked last wins."""
    states = [
        state.sensor_instigator_data
        for state in instance.all_instigator_state()
        if state.name == sensor_name
        and state.sensor_instigator_data is not None
        and state.sensor_instigator_data.cursor
    ]
    if not states:
        return None
    return max(states, key=lambda data: data.last_tick_timestamp or 0.0).cursor
