"""Asset checks that tell the truth about the data, not just about the last run.

They scan whole tables and the bucket, so they run every 15 minutes through the
`check_data_health` job (and on demand from the UI), not inside each upload or processing run; a
problem that appears between runs (a blob deleted by hand, an outbox stuck behind a Kafka outage)
shows up there. The checks `file-pipeline verify` also runs are the same functions
(`file_pipeline.analytics.verify`), so the terminal and the UI judge the data alike.
"""

import time

import dagster as dg

from file_pipeline.analytics import verify
from file_pipeline.analytics.reconciliation import reconcile
from file_pipeline.db import health, outbox
from file_pipeline.defs.processing.assets import notifications, virus_scan
from file_pipeline.defs.processing.sensors import NO_EVENTS_SKIPPED
from file_pipeline.defs.upload.assets import file_events, uploaded_files
from file_pipeline.resources import (
    KafkaResource,
    ObjectStorageResource,
    PostgresResource,
    ProcessingResource,
)
from file_pipeline.states import Stage
from file_pipeline.upload import keys

UNSENT_THRESHOLD_MINUTES = 5
PROCESSING_THRESHOLD_MINUTES = 10
ORPHAN_GRACE_SECONDS = 3600
GAP_LOOKBACK_HOURS = 24
MAX_CONSUMER_LAG = verify.DEFAULT_MAX_LAG
EXAMPLES = 50


@dg.asset_check(
    asset=uploaded_files,
    description="Every live row has its blob, and no object under uploads/, thumbnails/ or "
    "quarantine/ (past the grace period) is an orphan or a leftover of a deleted file.",
)
def blobs_match_rows(
    context: dg.AssetCheckExecutionContext,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
) -> dg.AssetCheckResult:
    found = reconcile(
        storage, postgres, grace_seconds=ORPHAN_GRACE_SECONDS, log=context.log, dry_run=True
    )
    return dg.AssetCheckResult(
        passed=not found.removable and not found.rows_missing_blob,
        metadata={
            "blobs_checked": found.blobs_checked,
            "orphan_objects": len(found.orphans),
            "leftover_objects": len(found.leftovers),
            "rows_missing_blob": len(found.rows_missing_blob),
            "examples": dg.MetadataValue.json(
                {
                    "orphans": found.orphans[:10],
                    "leftovers": found.leftovers[:10],
                    "rows": found.rows_missing_blob[:10],
                }
            ),
        },
    )


@dg.asset_check(
    asset=file_events,
    description=f"No outbox event waits unsent for more than {UNSENT_THRESHOLD_MINUTES} minutes.",
)
def outbox_drained(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        stuck = outbox.unsent_backlog(conn, older_than_seconds=UNSENT_THRESHOLD_MINUTES * 60)
    oldest = stuck.oldest_created_at
    return dg.AssetCheckResult(
        passed=stuck.count == 0,
        metadata={"stuck_events": stuck.count, "oldest": str(oldest) if oldest else "none"},
    )


@dg.asset_check(
    asset=notifications,
    description=f"Every uploaded file is processed within {PROCESSING_THRESHOLD_MINUTES} minutes.",
)
def uploads_processed_in_time(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        late = health.late_files(conn, PROCESSING_THRESHOLD_MINUTES)
    return dg.AssetCheckResult(
        passed=not late,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"late_files": len(late), "examples": dg.MetadataValue.json(late[:10])},
    )


@dg.asset_check(
    asset=virus_scan,
    description="Infected files live under quarantine/ and have no thumbnail and no index entry.",
)
def infected_files_quarantined(
    storage: ObjectStorageResource, postgres: PostgresResource
) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        rows = health.infected_files(conn)
    problems = []
    for file_id, key, indexed, has_thumbnail in rows:
        if not key.startswith(keys.QUARANTINE_PREFIX) or not storage.exists(key):
            problems.append(f"{file_id}: blob not in quarantine ({key})")
        if storage.exists(keys.upload_key_of(key)):
            problems.append(f"{file_id}: the original is still under uploads/")
        if indexed:
            problems.append(f"{file_id}: in the search index")
        if has_thumbnail or storage.list_keys(keys.thumbnail_prefix(file_id)):
            problems.append(f"{file_id}: has thumbnails")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"infected_files": len(rows), "problems": dg.MetadataValue.json(problems[:20])},
    )


@dg.asset_check(
    asset=file_events,
    name=NO_EVENTS_SKIPPED,
    description=(
        "No event was deleted by retention before the sensor read it. The sensor fails this check "
        f"the moment it finds a gap; run here, it looks at the last {GAP_LOOKBACK_HOURS} hours of "
        "the sensor's observations."
    ),
)
def no_events_skipped(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    since = time.time() - GAP_LOOKBACK_HOURS * 3600
    records = context.instance.fetch_observations(file_events.key, limit=1000).records
    gaps = []
    for record in records:
        if record.timestamp < since or record.asset_observation is None:
            continue
        found = record.asset_observation.metadata.get("offset_gaps")
        if found is not None and found.value:
            gaps.extend(found.value)
    return dg.AssetCheckResult(
        passed=not gaps,
        metadata={"gaps": dg.MetadataValue.json(gaps[:50]), "observations": len(records)},
    )


def _verdict(result: verify.CheckResult) -> dg.AssetCheckResult:
    """One `file-pipeline verify` check as an asset check result: what it looked at, how many
    violations, and the first ones (newest files first) with what is wrong."""
    metadata: dict[str, object] = {
        "checked": result.checked,
        "violations": len(result.violations),
        "examples": dg.MetadataValue.json([v.to_dict() for v in result.violations[:EXAMPLES]]),
    }
    if result.note:
        metadata["note"] = result.note
    return dg.AssetCheckResult(passed=result.passed, metadata=metadata)


@dg.asset_check(
    asset=dg.AssetKey(Stage.THUMBNAILS.value),
    description="Every live clean image processed by `thumbnails` has a row for each configured "
    "rendition and each rendition's object; none is left unprocessed past the grace period.",
)
def renditions_present(
    storage: ObjectStorageResource, postgres: PostgresResource, processing: ProcessingResource
) -> dg.AssetCheckResult:
    return _verdict(
        verify.check_renditions(
            storage,
            postgres,
            configured_renditions={spec.name for spec in processing.rendition_specs()},
            grace_seconds=ORPHAN_GRACE_SECONDS,
        )
    )


@dg.asset_check(
    asset=dg.AssetKey(Stage.SEARCH_INDEX.value),
    description="Every live clean file indexed by `search_index` has its entry; none is left "
    "unprocessed past the grace period.",
)
def index_present(postgres: PostgresResource) -> dg.AssetCheckResult:
    return _verdict(verify.check_index(postgres, grace_seconds=ORPHAN_GRACE_SECONDS))


@dg.asset_check(
    asset=notifications,
    description="Nothing of a deleted file is left but its row: no EXIF, rendition or index "
    "rows, no renditions (nor renditions of infected or unknown files), no blob. On "
    "`notifications` because that is where a DELETED event's processing ends: its `deleted` "
    "notification promises the file is gone everywhere, and this check holds it to that.",
)
def no_outputs_of_deleted_files(
    context: dg.AssetCheckExecutionContext,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
) -> dg.AssetCheckResult:
    found = reconcile(
        storage, postgres, grace_seconds=ORPHAN_GRACE_SECONDS, log=context.log, dry_run=True
    )
    return _verdict(verify.check_deleted_outputs(postgres, found))


@dg.asset_check(
    asset=file_events,
    description=f"`file_events_sensor` is at most {MAX_CONSUMER_LAG} events behind the topic "
    "(its stored cursor against the topic's high watermarks); fails when Kafka cannot say.",
)
def consumer_lag_bounded(
    context: dg.AssetCheckExecutionContext, kafka: KafkaResource
) -> dg.AssetCheckResult:
    reading = verify.read_consumer_lag(kafka, verify.sensor_cursor(context.instance))
    return _verdict(
        verify.check_consumer_lag(
            reading.lag,
            max_lag=MAX_CONSUMER_LAG,
            topic=kafka.file_events_topic,
            lag_error=reading.error,
        )
    )


check_data_health = dg.define_asset_job(
    name="check_data_health",
    selection=dg.AssetSelection.checks(
        blobs_match_rows,
        outbox_drained,
        uploads_processed_in_time,
        infected_files_quarantined,
        no_events_skipped,
        renditions_present,
        index_present,
        no_outputs_of_deleted_files,
        consumer_lag_bounded,
    ),
    description="Run every data-health asset check.",
)

check_data_health_schedule = dg.ScheduleDefinition(
    name="check_data_health_every_15_minutes",
    job=check_data_health,
    cron_schedule="*/15 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
