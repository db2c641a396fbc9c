"""Reprocessing: the `reprocess_files` job an operator launches from the Launchpad (or through
`file-pipeline reprocess`), and the sensors that keep the pipeline healing itself.

- `reprocess_files` plans what a selection means (failed, missing, stale, all or explicit ids,
  for some stages, optionally one user's or one upload window's), says which files it leaves
  alone and why, and records a request of batches.
- `reprocess_sensor` launches each batch as a `process_file_events` run (run key
  `reprocess:<request>:<batch>`, so it never collides with the event sensor's runs), selecting
  only the stages the batch redoes: its outputs are the same assets as any other run's.
- `stuck_files_sensor` re-drives files still pending, or with a stage missing, long after their
  upload (an outage that outlasted the run retries heals itself once the dependency is back).
- `signature_update_sensor` rescans files scanned clean under an older signature database.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg
from pydantic import Field

from file_pipeline import settings
from file_pipeline.db import reprocess as requests
from file_pipeline.defs.processing.config import ProcessingBatchConfig
from file_pipeline.defs.processing.jobs import process_file_events
from file_pipeline.errors import DependencyUnavailableError
from file_pipeline.processing.reprocess import (
    ReprocessPlan,
    ReprocessQuery,
    Selection,
    plan_reprocess,
    request_reprocess,
)
from file_pipeline.processing.scanning import EngineVersion
from file_pipeline.resources import ClamAVResource, PostgresResource, ProcessingResource
from file_pipeline.states import Stage

SWEEP_AFTER_SECONDS = int(settings.SWEEP_AFTER_SECONDS.value())
SIGNATURE_CHECK_SECONDS = int(settings.SIGNATURE_CHECK_SECONDS.value())
RESCAN_WINDOW_DAYS = int(settings.RESCAN_WINDOW_DAYS.value())
BATCHES_PER_TICK = 20
STAGE_OPS = {
    Stage.VIRUS_SCAN: "virus_scan",
    Stage.EXIF_METADATA: "derived_outputs",
    Stage.THUMBNAILS: "derived_outputs",
    Stage.SEARCH_INDEX: "derived_outputs",
    Stage.NOTIFICATIONS: "notifications",
}


class ReprocessConfig(dg.Config):
    """What to reprocess. Files that are deleted, infected, or already current for every
    requested stage (unless `force`) are left alone, and the run's metadata says so."""

    stages: list[str] = Field(
        default=[stage.value for stage in Stage],
        description="Stages to redo: virus_scan, exif_metadata, thumbnails, search_index, "
        "notifications (what depends on them is redone too).",
    )
    selection: Selection = Field(
        default=Selection.FAILED,
        description="failed, missing or stale in those stages; all live files; or ids.",
    )
    file_ids: list[str] = Field(default=[], description="With selection `ids`: the files.")
    uploaded_by: str | None = Field(default=None, description="Only this user's files.")
    uploaded_after: str | None = Field(
        default=None, description="Only files uploaded at or after this ISO date/time."
    )
    uploaded_before: str | None = Field(
        default=None, description="Only files uploaded before this ISO date/time."
    )
    force: bool = Field(default=False, description="Redo outputs that are already current.")
    batch_size: int = Field(default=200, description="Files per processing run.")

    def query(self) -> ReprocessQuery:
        return ReprocessQuery(
            stages=Stage.parse(self.stages),
            selection=self.selection,
            file_ids=tuple(self.file_ids),
            uploaded_by=self.uploaded_by,
            uploaded_after=_when(self.uploaded_after),
            uploaded_before=_when(self.uploaded_before),
            force=self.force,
        )


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def current_versions(
    processing: ProcessingResource, clamav: ClamAVResource
) -> dict[Stage, str | None]:
    """Today's stage versions; the scan's needs clamd (unknown while it is unreachable)."""
    try:
        scanner_version: str | None = clamav.scanner().version()
    except DependencyUnavailableError:
        scanner_version = None
    return processing.current_versions(scanner_version)


def plan_metadata(plan: ReprocessPlan, request_id: int | None) -> dict[str, object]:
    return {
        "request_id": request_id if request_id is not None else "none",
        "files": len(plan.file_ids),
        "stages": dg.MetadataValue.json([stage.value for stage in plan.stages]),
        "left_alone": dg.MetadataValue.json(dict(plan.skipped.most_common())),
        "selection": plan.query.describe(),
    }


@dg.op(
    description="Plan a reprocess (what the selection means, what is left alone and why) and "
    "record its batches, which reprocess_sensor launches as processing runs.",
)
def plan_reprocessing(
    context: dg.OpExecutionContext,
    config: ReprocessConfig,
    postgres: PostgresResource,
    clamav: ClamAVResource,
    processing: ProcessingResource,
) -> dg.Output[int]:
    versions = current_versions(processing, clamav)
    with postgres.connection() as conn:
        plan = plan_reprocess(conn, config.query(), versions)
        request_id = request_reprocess(
            conn, plan, source=f"reprocess_files:{context.run.run_id}", batch_size=config.batch_size
        )
    for reason, count in plan.skipped.most_common():
        context.log.info(f"left alone: {count} files ({reason})")
    context.log.info(
        f"{len(plan.file_ids)} files to reprocess in stages "
        f"{', '.join(s.value for s in plan.stages)} (request {request_id})"
    )
    return dg.Output(request_id or 0, metadata=plan_metadata(plan, request_id))


@dg.job(
    description="Reprocess exactly what you mean: failed, missing or stale files in some "
    "stages, all files, or explicit ids; optionally one user's or one upload window's.",
    tags={"file_pipeline/kind": "reprocess"},
)
def reprocess_files() -> None:
    plan_reprocessing()


def batch_run_request(batch: requests.Batch) -> dg.RunRequest:
    """One reprocess batch as a processing run of exactly its stages."""
    config = ProcessingBatchConfig(
        file_ids=batch.file_ids, source=f"reprocess:{batch.request_id}", force=batch.force
    )
    ops = sorted({STAGE_OPS[stage] for stage in batch.stages})
    return dg.RunRequest(
        run_key=f"reprocess:{batch.request_id}:{batch.batch_no}",
        run_config=dg.RunConfig(ops=dict.fromkeys(ops, config)),
        asset_selection=[dg.AssetKey(stage.value) for stage in batch.stages],
        # The data-health checks scan whole tables and the bucket: `check_data_health` runs
        # them, never a batch.
        asset_check_keys=[],
        tags={
            "file_pipeline/reprocess_request": str(batch.request_id),
            "file_pipeline/reprocess_batch": str(batch.batch_no),
            "file_pipeline/reprocess_source": batch.source[:60],
            "file_pipeline/files": str(len(batch.file_ids)),
        },
    )


@dg.sensor(
    job=process_file_events,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches the batches of reprocess requests as processing runs "
    "(run key reprocess:<request>:<batch>).",
)
def reprocess_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SensorResult | dg.SkipReason:
    after = int(context.cursor or 0)
    with postgres.connection() as conn:
        batches = requests.batches_after(conn, after, BATCHES_PER_TICK)
    if not batches:
        return dg.SkipReason("no reprocess batch waiting")
    return dg.SensorResult(
        run_requests=[batch_run_request(batch) for batch in batches],
        cursor=str(max(batch.id for batch in batches)),
    )


@dg.sensor(
    minimum_interval_seconds=min(60, SWEEP_AFTER_SECONDS),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Re-drives files still pending, or with a stage missing, {SWEEP_AFTER_SECONDS} s "
    "after upload (SWEEP_AFTER_SECONDS): an outage longer than the run retries heals itself.",
)
def stuck_files_sensor(
    context: dg.SensorEvaluationContext,
    postgres: PostgresResource,
    clamav: ClamAVResource,
    processing: ProcessingResource,
) -> dg.SkipReason:
    query = ReprocessQuery(stages=tuple(Stage), selection=Selection.MISSING)
    with postgres.connection() as conn:
        if requests.open_requests_from(conn, "sweeper", SWEEP_AFTER_SECONDS):
            return dg.SkipReason("the last sweep is less than SWEEP_AFTER_SECONDS old")
        plan = plan_reprocess(
            conn, query, current_versions(processing, clamav), older_than=SWEEP_AFTER_SECONDS
        )
        request_id = request_reprocess(conn, plan, source="sweeper")
    if request_id is None:
        return dg.SkipReason("no file is stuck")
    context.log.warning(f"re-driving {len(plan.file_ids)} stuck files (request {request_id})")
    return dg.SkipReason(f"requested reprocess {request_id} of {len(plan.file_ids)} files")


@dg.sensor(
    minimum_interval_seconds=SIGNATURE_CHECK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When clamd's signature database version changes, rescans the files scanned "
    f"clean under another version and uploaded in the last {RESCAN_WINDOW_DAYS} days "
    "(RESCAN_WINDOW_DAYS).",
)
def signature_update_sensor(
    context: dg.SensorEvaluationContext,
    postgres: PostgresResource,
    clamav: ClamAVResource,
    processing: ProcessingResource,
) -> dg.SensorResult | dg.SkipReason:
    try:
        engine = clamav.scanner().version()
    except DependencyUnavailableError as exc:
        return dg.SkipReason(f"clamd unavailable: {exc}")
    database = EngineVersion.parse(engine).database
    if database is None:
        return dg.SkipReason(f"clamd reports no signature database version ({engine})")
    if context.cursor == str(database):
        return dg.SkipReason(f"signatures unchanged (database version {database})")
    since = datetime.now(timezone.utc) - timedelta(days=RESCAN_WINDOW_DAYS)
    query = ReprocessQuery(
        stages=(Stage.VIRUS_SCAN,), selection=Selection.STALE, uploaded_after=since
    )
    with postgres.connection() as conn:
        plan = plan_reprocess(conn, query, processing.current_versions(engine))
        request_id = request_reprocess(conn, plan, source=f"rescan:db{database}")
    context.log.info(
        f"signature database version {database}: rescanning {len(plan.file_ids)} files"
        f" (request {request_id})"
    )
    return dg.SensorResult(run_requests=[], cursor=str(database))
