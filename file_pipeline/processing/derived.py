"""The derived stages (`exif_metadata`, `thumbnails`, `search_index`), per file: plan, fetch
(only what the run's spool does not hold), decode on the worker processes, record. No Dagster.

A file is decoded once for all three stages. Outputs are written under a share lock on the file's
row, after checking it is still clean and live: a file deleted (or found infected) while it was
being decoded gets no outputs, and what was already uploaded for it is removed.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from file_pipeline.db import files, outputs
from file_pipeline.db.outputs import ThumbnailRow
from file_pipeline.log import Logger
from file_pipeline.processing.applicability import not_applicable
from file_pipeline.processing.batch import (
    Recorder,
    Row,
    StageReport,
    StepOutcome,
    WorkItem,
    attempt,
    chunks,
    not_clean_reason,
)
from file_pipeline.processing.products import DeriveRequest, Product
from file_pipeline.processing.spool import Spool
from file_pipeline.processing.text_extraction import has_text_extractor, searchable_filename
from file_pipeline.processing.versions import (
    RenditionSpec,
    TextLimits,
    VideoSettings,
    exif_version,
    search_index_version,
    thumbnails_version,
)
from file_pipeline.processing.workers import DeriveWorkers
from file_pipeline.states import Outcome, Stage
from file_pipeline.upload import keys

if TYPE_CHECKING:
    from file_pipeline.resources.postgres import PostgresResource
    from file_pipeline.resources.storage import ObjectStorageResource


MAX_TEXT_SOURCE_BYTES = 20 * 1024 * 1024
RECORD_EVERY = 16
"""Decoded files are recorded and committed in groups of this many as they come (each once its
renditions are stored), not all at the end of the chunk."""


@dataclass(frozen=True)
class DerivedSettings:
    renditions: tuple[RenditionSpec, ...]
    text_limits: TextLimits
    time_budget_seconds: float
    workers: int
    memory_limit_bytes: int
    fetch_concurrency: int = 4
    video: VideoSettings = field(default_factory=VideoSettings)

    def version(self, stage: Stage) -> str:
        if stage is Stage.EXIF_METADATA:
            return exif_version()
        if stage is Stage.THUMBNAILS:
            return thumbnails_version(self.renditions, self.video)
        return search_index_version(self.text_limits)


@dataclass
class DerivedContext:
    storage: ObjectStorageResource
    postgres: PostgresResource
    spool: Spool
    settings: DerivedSettings
    run_id: str | None
    log: Logger
    stages: frozenset[Stage]
    """The derived stages this run produces (a reprocess may ask for only some)."""
    workers: DeriveWorkers
    """The run's decoding processes (the caller owns and closes them)."""


@dataclass
class Work:
    """What one file needs from the decoders, and what was decided without them."""

    item: WorkItem
    row: Row
    decode: set[Stage] = field(default_factory=set)


Uploading = tuple[Work, dict[Stage, Product], Future[Any]]
"""A decoded file, its products, and the upload of its renditions."""


def applicable(stage: Stage, row: Row) -> str | None:
    """Why `stage` does not apply to this clean file (None when it does)."""
    return not_applicable(stage, row["content_type"], row["file_size"])


def needs_bytes(stage: Stage, row: Row) -> bool:
    """Whether `stage` reads the file's bytes (search_index indexes other types by filename)."""
    if stage is Stage.SEARCH_INDEX:
        return has_text_extractor(row["content_type"]) and row["file_size"] <= (
            MAX_TEXT_SOURCE_BYTES
        )
    return True


def derived_batch(ctx: DerivedContext, items: list[WorkItem]) -> dict[Stage, StageReport]:
    """Run the requested derived stages over the batch; one report per stage."""
    reports: dict[Stage, StageReport] = {}
    with ctx.postgres.connection() as conn:
        recorders = {
            stage: Recorder(conn, stage, ctx.run_id, ctx.log)
            for stage in Stage.derived()
            if stage in ctx.stages
        }
        with ThreadPoolExecutor(max(1, ctx.settings.fetch_concurrency)) as threads:
            for chunk in chunks(items, 200):
                work = _plan_chunk(ctx, conn, recorders, chunk)
                _decode_and_record(ctx, conn, recorders, work, ctx.workers, threads)
                for recorder in recorders.values():
                    recorder.commit()
        for stage, recorder in recorders.items():
            reports[stage] = recorder.report
    return reports


def _plan_chunk(
    ctx: DerivedContext,
    conn: psycopg.Connection,
    recorders: dict[Stage, Recorder],
    chunk: list[WorkItem],
) -> list[Work]:
    rows = files.get_files(conn, [item.file_id for item in chunk])
    current = outputs.output_versions(conn, list(rows))
    expected_renditions = {spec.name for spec in ctx.settings.renditions}
    work: list[Work] = []
    for item in chunk:
        row = rows.get(item.file_id)
        pending = Work(item, row or {})
        for stage, recorder in recorders.items():
            made = current.get(item.file_id)
            versions = made.stage_versions(expected_renditions) if made else {}
            decided = _plan(ctx, item, row, stage, versions)
            if decided is None:
                if needs_bytes(stage, row or {}):
                    pending.decode.add(stage)
                else:
                    recorder.record(
                        item, lambda c, i=item, r=row: _index_filename_only(ctx, c, i, r)
                    )
            elif decided == "remove":
                recorder.record(
                    item, lambda c, i=item, s=stage, r=row: _remove(ctx, recorders[s], c, i, s, r)
                )
            else:
                recorder.record(item, lambda _c, d=decided: d, keep_result=row is not None)
        if pending.decode:
            work.append(pending)
    return work


def _plan(
    ctx: DerivedContext,
    item: WorkItem,
    row: Row | None,
    stage: Stage,
    versions: dict[Stage, str | None],
) -> StepOutcome | str | None:
    """An outcome decided now, "remove" (drop this stage's outputs), or None (derive it)."""
    if row is None:
        return StepOutcome(Outcome.SKIPPED, "no row in files for this id")
    if item.deleted or row["deleted_at"] is not None or row["status"] == "infected":
        return "remove"
    reason = not_clean_reason(row)
    if reason is not None:
        return StepOutcome(Outcome.SKIPPED, reason)
    reason = applicable(stage, row)
    if reason is not None:
        return StepOutcome(Outcome.SKIPPED, reason, version=ctx.settings.version(stage))
    version = ctx.settings.version(stage)
    if versions.get(stage) == version and not item.force:
        return StepOutcome(
            Outcome.SKIPPED, f"already current ({version})", version=version, unchanged=True
        )
    return None


def _decode_and_record(
    ctx: DerivedContext,
    conn: psycopg.Connection,
    recorders: dict[Stage, Recorder],
    work: list[Work],
    workers: DeriveWorkers,
    threads: ThreadPoolExecutor,
) -> None:
    if not work:
        return
    fetched = {
        w.item.file_id: threads.submit(attempt, lambda w=w: _ensure_spooled(ctx, w.row))
        for w in work
    }
    ready: list[DeriveRequest] = []
    by_id = {w.item.file_id: w for w in work}
    for file_id, future in fetched.items():
        outcome = future.result()  # an outage propagates: the run fails
        w = by_id[file_id]
        if isinstance(outcome, StepOutcome):
            for stage in w.decode:
                recorders[stage].record(w.item, lambda _c, o=outcome: _blob_failed(o))
            continue
        ready.append(_request(ctx, w.row, frozenset(w.decode)))
    uploads: list[Uploading] = []
    for request, products in workers.derive_all(ready):
        w = by_id[request.file_id]
        upload = threads.submit(attempt, lambda p=products, w=w: _upload_renditions(ctx, w, p))
        uploads.append((w, products, upload))
        if len(uploads) >= RECORD_EVERY:
            # Recorded and committed now, while the workers decode the rest: the chunk's last
            # file is not followed by every file's writes, and rows are share-locked only for
            # as long as recording one group takes.
            _record_uploads(ctx, conn, recorders, uploads)
            for recorder in recorders.values():
                recorder.commit()
            uploads = []
    _record_uploads(ctx, conn, recorders, uploads)


def _record_uploads(
    ctx: DerivedContext,
    conn: psycopg.Connection,
    recorders: dict[Stage, Recorder],
    uploads: list[Uploading],
) -> None:
    for w, products, upload in uploads:
        uploaded = upload.result()
        _record_products(ctx, conn, recorders, w, products, uploaded)
        ctx.spool.discard(w.item.file_id)


def _request(ctx: DerivedContext, row: Row, stages: frozenset[Stage]) -> DeriveRequest:
    return DeriveRequest(
        file_id=row["id"],
        path=str(ctx.spool.path(row["id"])),
        content_type=row["content_type"] or "",
        filename=row["filename"],
        stages=stages,
        renditions=ctx.settings.renditions,
        text_limits=ctx.settings.text_limits,
        time_budget_seconds=ctx.settings.time_budget_seconds,
        video=ctx.settings.video,
    )


def decode_ahead(ctx: DerivedContext, row: Row) -> bool:
    """Start decoding a newly uploaded file the scan has just found clean, while the scan goes on
    with the rest of the batch, for the stages the derived step asks of a file with no outputs
    yet. Nothing is written here: the derived step plans the file as usual and takes this
    result only if it asks for exactly the same decode (otherwise it decodes again). False when
    nothing was started."""
    if not ctx.spool.has(row["id"]):
        return False
    stages = frozenset(
        stage for stage in ctx.stages if applicable(stage, row) is None and needs_bytes(stage, row)
    )
    return bool(stages) and ctx.workers.schedule_ahead(_request(ctx, row, stages))


def _ensure_spooled(ctx: DerivedContext, row: Row) -> None:
    """Fetch the blob into the spool unless the scan already left it there."""
    if ctx.spool.has(row["id"]):
        return
    body = ctx.storage.open_stream(row["s3_key"])
    try:
        with ctx.spool.writer(row["id"]) as sink:
            while chunk := body.read(1024 * 1024):
                sink.write(chunk)
    finally:
        body.close()


def _blob_failed(outcome: StepOutcome) -> StepOutcome:
    return StepOutcome(
        Outcome.FAILED, f"cannot read the blob: {outcome.detail}", outcome.error_type
    )


def _upload_renditions(
    ctx: DerivedContext, work: Work, products: dict[Stage, Product]
) -> list[ThumbnailRow]:
    """Put the renditions (before the row is locked; removed again if the file is gone)."""
    product = products.get(Stage.THUMBNAILS)
    if product is None or product.outcome is Outcome.FAILED:
        return []
    rows = []
    for rendition in product.renditions:
        key = keys.rendition_key(work.item.file_id, rendition.name, rendition.extension)
        ctx.storage.put_bytes(key, rendition.data, rendition.content_type)
        rows.append(
            ThumbnailRow(
                rendition.name,
                key,
                rendition.content_type,
                rendition.width,
                rendition.height,
                len(rendition.data),
            )
        )
    return rows


def _record_products(
    ctx: DerivedContext,
    conn: psycopg.Connection,
    recorders: dict[Stage, Recorder],
    work: Work,
    products: dict[Stage, Product],
    uploaded: list[ThumbnailRow] | StepOutcome,
) -> None:
    renditions = uploaded if isinstance(uploaded, list) else []
    for stage in sorted(work.decode, key=list(Stage).index):
        product = products.get(stage) or Product(Outcome.FAILED, "no result from the decoder")
        if stage is Stage.THUMBNAILS and isinstance(uploaded, StepOutcome):
            product = Product(Outcome.FAILED, f"cannot store renditions: {uploaded.detail}")
        recorders[stage].record(
            work.item,
            lambda c, s=stage, p=product: _write(ctx, recorders[s], c, work, s, p, renditions),
        )


def _write(
    ctx: DerivedContext,
    recorder: Recorder,
    conn: psycopg.Connection,
    work: Work,
    stage: Stage,
    product: Product,
    renditions: list[ThumbnailRow],
) -> StepOutcome:
    file_id = work.item.file_id
    version = ctx.settings.version(stage)
    row = files.share_lock_file(conn, file_id)
    gone = not_clean_reason(row)
    if gone is not None:
        if stage is Stage.THUMBNAILS:
            recorder.after_commit(lambda: _remove_objects(ctx, [r.s3_key for r in renditions]))
        outputs.delete_outputs(conn, file_id, stage)
        return StepOutcome(Outcome.SKIPPED, f"{gone} while it was being processed")
    if product.outcome is Outcome.FAILED:
        return StepOutcome(Outcome.FAILED, product.detail, product.error_type, version)
    if stage is Stage.EXIF_METADATA and product.exif is not None:
        outputs.upsert_exif(conn, file_id, product.exif, work.item.source, ctx.run_id, version)
    elif stage is Stage.THUMBNAILS:
        dropped = outputs.replace_thumbnails(
            conn, file_id, renditions, version, placeholder=product.placeholder
        )
        recorder.after_commit(lambda: _remove_objects(ctx, dropped))
    elif stage is Stage.SEARCH_INDEX:
        assert row is not None
        scan = product.sensitive_data
        _upsert_document(
            conn, row, product.text or "", version, None if scan is None else scan.as_json()
        )
    return StepOutcome(product.outcome, product.detail, version=version)


def _index_filename_only(
    ctx: DerivedContext, conn: psycopg.Connection, item: WorkItem, row: Row | None
) -> StepOutcome:
    version = ctx.settings.version(Stage.SEARCH_INDEX)
    locked = files.share_lock_file(conn, item.file_id)
    gone = not_clean_reason(locked)
    if gone is not None or locked is None:
        return StepOutcome(Outcome.SKIPPED, f"{gone} while it was being processed")
    _upsert_document(conn, locked, "", version)
    return StepOutcome(Outcome.DONE, "filename only", version=version)


def _upsert_document(
    conn: psycopg.Connection,
    row: Row,
    body: str,
    version: str,
    sensitive_data: dict[str, int] | None = None,
) -> None:
    outputs.upsert_search_document(
        conn,
        row["id"],
        filename=searchable_filename(row["filename"]),
        uploaded_by=row["uploaded_by"],
        content_type=row["content_type"],
        body=body,
        version=version,
        sensitive_data=sensitive_data,
    )


def _remove(
    ctx: DerivedContext,
    recorder: Recorder,
    conn: psycopg.Connection,
    item: WorkItem,
    stage: Stage,
    row: Row,
) -> StepOutcome:
    """Drop this stage's outputs of a deleted or infected file (rows now, objects on commit)."""
    removed = outputs.delete_outputs(conn, item.file_id, stage)
    if stage is Stage.THUMBNAILS:
        recorder.after_commit(
            lambda: _remove_objects(ctx, ctx.storage.list_keys(keys.thumbnail_prefix(item.file_id)))
        )
    if item.deleted:
        return StepOutcome(Outcome.DONE, f"DELETED: removed {removed} rows")
    reason = "file was deleted" if row["deleted_at"] is not None else "file is infected"
    return StepOutcome(Outcome.SKIPPED, f"{reason}: removed {removed} rows")


def _remove_objects(ctx: DerivedContext, object_keys: list[str]) -> None:
    for key in object_keys:
        ctx.storage.delete(key)
