"""Asset checks that tell the truth about the data, not just about the last run.

They scan whole tables and the bucket, so they run every 15 minutes through the
`check_data_health` job (and on demand from the UI), not inside each upload or processing run; a
problem that appears between runs (a blob deleted by hand, an outbox stuck behind a Kafka outage)
shows up there.
"""

import time

import dagster as dg

from file_pipeline.analytics.reconciliation import reconcile
from file_pipeline.db import health, outbox
from file_pipeline.defs.processing.assets import notifications, virus_scan
from file_pipeline.defs.processing.sensors import NO_EVENTS_SKIPPED
from file_pipeline.defs.upload.assets import file_events, uploaded_files
from file_pipeline.resources import ObjectStorageResource, PostgresResource
from file_pipeline.upload import keys

UNSENT_THRESHOLD_MINUTES = 5
PROCESSING_THRESHOLD_MINUTES = 10
ORPHAN_GRACE_SECONDS = 3600
GAP_LOOKBACK_HOURS = 24


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


check_data_health = dg.define_asset_job(
    name="check_data_health",
    selection=dg.AssetSelection.checks(
        blobs_match_rows,
        outbox_drained,
        uploads_processed_in_time,
        infected_files_quarantined,
        no_events_skipped,
    ),
    description="Run every data-health asset check.",
)

check_data_health_schedule = dg.ScheduleDefinition(
    name="check_data_health_every_15_minutes",
    job=check_data_health,
    cron_schedule="*/15 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
