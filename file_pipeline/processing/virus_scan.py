"""The `virus_scan` stage, per file: plan, fetch and scan, record. No Dagster here.

Each blob is streamed once: to clamd, through a SHA-256 and a byte count (is this still the blob
its row describes?), and into the run's spool for the derived stages. Verdicts:
- clean: the row says so, with the scanner version that said it;
- infected: the blob is copied to `quarantine/`, the row follows it, then the original is removed
  (a crash in between leaves a row pointing at an existing object; a retry finishes the move);
- unscannable (over a clamd limit, encrypted): `failed` by default, never clean
  (SCAN_UNSCANNABLE=quarantine treats it like an infected file);
- a blob that no longer matches its row (size, or SHA-256 once known) is `failed`: the pipeline
  never processes someone else's bytes under this file's name.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import psycopg

from file_pipeline.db import files, outputs
from file_pipeline.errors import FilePipelineError
from file_pipeline.log import Logger
from file_pipeline.processing.batch import (
    Recorder,
    Row,
    StageReport,
    StepOutcome,
    WorkItem,
    attempt,
    chunks,
)
from file_pipeline.processing.scanning import (
    ClamdScanner,
    EngineVersion,
    ScannerUnavailableError,
    ScanResult,
)
from file_pipeline.processing.scanning import Verdict as ScanVerdict
from file_pipeline.processing.spool import Spool, TeeReader
from file_pipeline.processing.versions import scan_version
from file_pipeline.states import FileStatus, Outcome, Stage
from file_pipeline.upload import keys

if TYPE_CHECKING:
    from file_pipeline.resources.postgres import PostgresResource
    from file_pipeline.resources.storage import ObjectStorageResource


class UnscannablePolicy(str, Enum):
    FAILED = "failed"
    QUARANTINE = "quarantine"


@dataclass(frozen=True)
class ScanSettings:
    max_scan_bytes: int
    unscannable: UnscannablePolicy
    spool_max_file_bytes: int
    concurrency: int = 4


@dataclass
class ScanContext:
    storage: ObjectStorageResource
    postgres: PostgresResource
    scanner: ClamdScanner
    spool: Spool | None
    settings: ScanSettings
    run_id: str | None
    log: Logger
    on_clean: Callable[[Row], object] | None = None
    """Called with the row of each newly uploaded file found clean, as soon as it is (the
    derived stages start decoding it while the rest of the batch is scanned)."""


class ScanTimedOutError(FilePipelineError):
    """clamd took longer than its timeout on this file while still answering PING: the file
    (an archive bomb, a pathological document) is the problem, not clamd."""


@dataclass(frozen=True)
class Fetched:
    result: ScanResult
    sha256: str
    size: int


def plan(item: WorkItem, row: Row | None, current_version: str) -> StepOutcome | None:
    """Why this file needs no scan now (the outcome to record), or None to scan it."""
    if item.deleted:
        return StepOutcome(Outcome.SKIPPED, "DELETED event")
    if row is None:
        return StepOutcome(Outcome.SKIPPED, "no row in files for this id")
    if row["deleted_at"] is not None:
        return StepOutcome(Outcome.SKIPPED, "file was deleted")
    status = FileStatus(row["status"])
    if status is FileStatus.INFECTED:
        return None  # scanned; only the move to quarantine may be left to finish
    if status is FileStatus.PENDING:
        return None
    if not item.reprocess:
        return StepOutcome(Outcome.SKIPPED, f"already scanned: {status.value}", unchanged=True)
    current = status is FileStatus.CLEAN and row["scan_version"] == current_version
    if current and not item.force:
        return StepOutcome(
            Outcome.SKIPPED,
            f"already current ({current_version})",
            version=current_version,
            unchanged=True,
        )
    return None


def scan_batch(ctx: ScanContext, items: list[WorkItem]) -> StageReport:
    """Scan every file of the batch that needs it; outcomes recorded per file."""
    engine = ctx.scanner.version()  # asked once per batch: an outage fails the run here
    current_version = version_of(engine)
    with ctx.postgres.connection() as conn:
        recorder = Recorder(conn, Stage.VIRUS_SCAN, ctx.run_id, ctx.log)
        with ThreadPoolExecutor(max_workers=max(1, ctx.settings.concurrency)) as threads:
            for chunk in chunks(items, 100):
                rows = files.get_files(conn, [i.file_id for i in chunk])
                todo: dict[int, Any] = {}
                for index, item in enumerate(chunk):
                    row = rows.get(item.file_id)
                    skip = plan(item, row, current_version)
                    if skip is not None:
                        recorder.record(item, lambda _c, s=skip: s, keep_result=row is not None)
                    elif row is not None and row["status"] == FileStatus.INFECTED.value:
                        recorder.record(
                            item, lambda c, r=row: finish_quarantine(ctx, recorder, c, r)
                        )
                    elif row is not None and row["file_size"] > ctx.settings.max_scan_bytes:
                        recorder.record(
                            item, lambda c, r=row: _over_limit(ctx, c, r, current_version)
                        )
                    else:
                        todo[index] = threads.submit(attempt, lambda r=row: fetch_and_scan(ctx, r))
                for index, future in todo.items():
                    item, row = chunk[index], rows[chunk[index].file_id]
                    fetched = future.result()  # an outage propagates: the run fails
                    outcome = recorder.record(
                        item, lambda c, f=fetched, r=row: record_scan(ctx, recorder, c, r, f)
                    )
                    if ctx.on_clean and outcome.status is FileStatus.CLEAN and not item.reprocess:
                        ctx.on_clean(row)
                recorder.commit()
    return recorder.report


def version_of(engine_line: str) -> str:
    """The stage version of a scan made by the clamd that reports `engine_line`."""
    parsed = EngineVersion.parse(engine_line)
    return scan_version(parsed.database, parsed.engine)


def fetch_and_scan(ctx: ScanContext, row: Row) -> Fetched:
    """Stream the blob to clamd once, hashing and counting it and keeping a copy in the spool."""
    file_id, key = row["id"], row["s3_key"]
    keep = ctx.spool is not None and row["file_size"] <= ctx.settings.spool_max_file_bytes
    body = ctx.storage.open_stream(key)
    try:
        if keep and ctx.spool is not None:
            with ctx.spool.writer(file_id) as sink:
                reader = TeeReader(body, sink, ctx.settings.spool_max_file_bytes)
                result = _scan(ctx, reader)
                reader.drain()
            if not reader.kept:
                ctx.spool.discard(file_id)
        else:
            reader = TeeReader(body, None, 0)
            result = _scan(ctx, reader)
            reader.drain()
    finally:
        body.close()
    return Fetched(result, reader.sha256, reader.size)


def _scan(ctx: ScanContext, reader: TeeReader) -> ScanResult:
    try:
        return ctx.scanner.scan_stream(reader)  # type: ignore[arg-type]
    except ScannerUnavailableError as exc:
        if exc.reason == "timed out" and ctx.scanner.ping():
            raise ScanTimedOutError(
                f"clamd did not finish scanning this file within {ctx.scanner.timeout:g} s "
                "(it answers PING): the file cannot be scanned"
            ) from exc
        raise


def record_scan(
    ctx: ScanContext,
    recorder: Recorder,
    conn: psycopg.Connection,
    row: Row,
    fetched: Fetched | StepOutcome,
) -> StepOutcome:
    """Record what the scan found (called in the file's savepoint)."""
    version = version_of(fetched.result.engine) if isinstance(fetched, Fetched) else None
    if isinstance(fetched, StepOutcome):
        # The blob could not be read or scanned (missing, clamd refused it): no verdict, ever.
        _set(conn, row, FileStatus.FAILED, None, "clamd", None)
        return StepOutcome(
            Outcome.FAILED,
            f"cannot be scanned: {fetched.detail}",
            fetched.error_type,
            version,
            FileStatus.FAILED,
        )
    mismatch = _mismatch(row, fetched)
    if mismatch is not None:
        _set(conn, row, FileStatus.FAILED, None, fetched.result.engine, version)
        return StepOutcome(Outcome.FAILED, mismatch, "BlobMismatch", version, FileStatus.FAILED)
    if row["sha256"] is None:
        files.set_sha256(conn, row["id"], fetched.sha256)
    result = fetched.result
    if result.verdict is ScanVerdict.CLEAN:
        _set(conn, row, FileStatus.CLEAN, None, result.engine, version)
        return StepOutcome(Outcome.DONE, "clean", version=version, status=FileStatus.CLEAN)
    if result.verdict is ScanVerdict.UNSCANNABLE and (
        ctx.settings.unscannable is UnscannablePolicy.FAILED
    ):
        _set(conn, row, FileStatus.FAILED, result.signature, result.engine, version)
        return StepOutcome(
            Outcome.FAILED,
            f"unscannable: {result.signature}",
            "Unscannable",
            version,
            FileStatus.FAILED,
        )
    destination = quarantine(ctx, recorder, conn, row, result, version)
    what = "infected" if result.verdict is ScanVerdict.INFECTED else "unscannable"
    return StepOutcome(
        Outcome.DONE,
        f"{what}: {result.signature}; moved to {destination}",
        version=version,
        status=FileStatus.INFECTED,
    )


def _mismatch(row: Row, fetched: Fetched) -> str | None:
    if fetched.size != row["file_size"]:
        return (
            f"blob no longer matches its row: {fetched.size} bytes, the row says "
            f"{row['file_size']} (overwritten by another upload under the same key?)"
        )
    if row["sha256"] is not None and row["sha256"] != fetched.sha256:
        return "blob no longer matches its row: its SHA-256 differs from the one recorded"
    return None


def quarantine(
    ctx: ScanContext,
    recorder: Recorder,
    conn: psycopg.Connection,
    row: Row,
    result: ScanResult,
    version: str | None,
) -> str:
    """Copy to quarantine/, point the row there and drop derived outputs; the original and any
    renditions are removed once that is committed."""
    original = row["s3_key"]
    destination = keys.quarantine_key(original)
    ctx.storage.copy(original, destination)
    files.set_scan_verdict(
        conn,
        row["id"],
        FileStatus.INFECTED,
        signature=result.signature,
        engine=result.engine,
        version=version,
        s3_key=destination,
        s3_url=ctx.storage.object_url(destination),
    )
    for stage in Stage.derived():
        outputs.delete_outputs(conn, row["id"], stage)
    recorder.after_commit(lambda: _remove_after_quarantine(ctx, row["id"], original))
    return destination


def finish_quarantine(
    ctx: ScanContext, recorder: Recorder, conn: psycopg.Connection, row: Row
) -> StepOutcome:
    """An infected file scanned before: make sure nothing of it is left outside quarantine."""
    for stage in Stage.derived():
        outputs.delete_outputs(conn, row["id"], stage)
    recorder.after_commit(
        lambda: _remove_after_quarantine(ctx, row["id"], keys.upload_key_of(row["s3_key"]))
    )
    return StepOutcome(
        Outcome.SKIPPED, f"already infected: {row['scan_signature']}", unchanged=True
    )


def _remove_after_quarantine(ctx: ScanContext, file_id: str, original: str) -> None:
    with ctx.postgres.connection() as conn:
        shared = files.live_rows_with_key(conn, original, excluding=file_id)
    if not shared and ctx.storage.exists(original):
        ctx.storage.delete(original)
    for key in ctx.storage.list_keys(keys.thumbnail_prefix(file_id)):
        ctx.storage.delete(key)
    if ctx.spool is not None:
        ctx.spool.discard(file_id)


def _over_limit(ctx: ScanContext, conn: psycopg.Connection, row: Row, version: str) -> StepOutcome:
    _set(conn, row, FileStatus.FAILED, None, "clamd", version)
    return StepOutcome(
        Outcome.FAILED,
        f"unscannable: larger than the scanner's limit ({ctx.settings.max_scan_bytes} bytes)",
        "Unscannable",
        version,
        FileStatus.FAILED,
    )


def _set(
    conn: psycopg.Connection,
    row: Row,
    status: FileStatus,
    signature: str | None,
    engine: str,
    version: str | None,
) -> None:
    files.set_scan_verdict(
        conn, row["id"], status, signature=signature, engine=engine, version=version
    )
