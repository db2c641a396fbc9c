"""Asset checks that tell the truth about the data, not just about the last run.

They scan whole tables and the bucket, so they run every 15 minutes through the
`check_data_health` job (and on demand from the UI), not inside each upload or processing run; a
problem that appears between runs (a blob deleted by hand, an outbox stuck behind a Kafka outage)
shows up there.
"""

import dagster as dg

from file_pipeline.defs.processing.assets import notifications, virus_scan
from file_pipeline.defs.upload.assets import file_events, uploaded_files
from file_pipeline.reconciliation import reconcile
from file_pipeline.resources import ObjectStorageResource, PostgresResource

UNSENT_THRESHOLD_MINUTES = 5
PROCESSING_THRESHOLD_MINUTES = 10
ORPHAN_GRACE_SECONDS = 3600


@dg.asset_check(
    asset=uploaded_files,
    description="Every live row has its blob, and every upload blob (past the grace period) "
    "has its row.",
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
        passed=not found.orphans_removed and not found.rows_missing_blob,
        metadata={
            "blobs_checked": found.blobs_checked,
            "orphan_blobs": len(found.orphans_removed),
            "rows_missing_blob": len(found.rows_missing_blob),
            "examples": dg.MetadataValue.json(
                {"orphans": found.orphans_removed[:10], "rows": found.rows_missing_blob[:10]}
            ),
        },
    )


@dg.asset_check(
    asset=file_events,
    description=f"No outbox event waits unsent for more than {UNSENT_THRESHOLD_MINUTES} minutes.",
)
def outbox_drained(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        stuck, oldest = conn.execute(
            "SELECT count(*), min(created_at) FROM outbox WHERE sent_at IS NULL"
            " AND created_at < now() - make_interval(mins => %s)",
            (UNSENT_THRESHOLD_MINUTES,),
        ).fetchone()
    return dg.AssetCheckResult(
        passed=stuck == 0,
        metadata={"stuck_events": stuck, "oldest": str(oldest) if oldest else "none"},
    )


@dg.asset_check(
    asset=notifications,
    description=f"Every uploaded file is processed within {PROCESSING_THRESHOLD_MINUTES} minutes.",
)
def uploads_processed_in_time(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        late = conn.execute(
            "SELECT id FROM files WHERE deleted_at IS NULL AND processed_at IS NULL"
            " AND created_at < now() - make_interval(mins => %s) ORDER BY created_at LIMIT 100",
            (PROCESSING_THRESHOLD_MINUTES,),
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not late,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "late_files": len(late),
            "examples": dg.MetadataValue.json([r[0] for r in late[:10]]),
        },
    )


@dg.asset_check(
    asset=virus_scan,
    description="Infected files live under quarantine/ and have no thumbnail and no index entry.",
)
def infected_files_quarantined(
    storage: ObjectStorageResource, postgres: PostgresResource
) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        rows = conn.execute(
            "SELECT f.id, f.s3_key,"
            " EXISTS (SELECT 1 FROM search_index s WHERE s.file_id = f.id),"
            " EXISTS (SELECT 1 FROM thumbnails t WHERE t.file_id = f.id)"
            " FROM files f WHERE f.status = 'infected' AND f.deleted_at IS NULL"
        ).fetchall()
    problems = []
    for file_id, key, indexed, has_thumbnail in rows:
        if not key.startswith("quarantine/") or not storage.exists(key):
            problems.append(f"{file_id}: blob not in quarantine ({key})")
        if indexed:
            problems.append(f"{file_id}: in the search index")
        if has_thumbnail or storage.list_keys(f"thumbnails/{file_id}/"):
            problems.append(f"{file_id}: has thumbnails")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"infected_files": len(rows), "problems": dg.MetadataValue.json(problems[:20])},
    )


check_data_health = dg.define_asset_job(
    name="check_data_health",
    selection=dg.AssetSelection.checks(
        blobs_match_rows, outbox_drained, uploads_processed_in_time, infected_files_quarantined
    ),
    description="Run every data-health asset check.",
)

check_data_health_schedule = dg.ScheduleDefinition(
    name="check_data_health_every_15_minutes",
    job=check_data_health,
    cron_schedule="*/15 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
