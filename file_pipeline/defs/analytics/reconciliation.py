"""Reconciliation of object storage against the `files` table, hourly."""

import dagster as dg
from pydantic import Field

from file_pipeline.analytics.reconciliation import reconcile
from file_pipeline.resources import ObjectStorageResource, PostgresResource


class ReconciliationConfig(dg.Config):
    grace_seconds: int = Field(
        default=3600,
        description="Blobs with no row younger than this are left alone (upload in progress).",
    )
    dry_run: bool = Field(default=False, description="Report only; remove nothing.")


@dg.asset(
    group_name="analytics",
    kinds={"s3", "postgres"},
    owners=["team:file-pipeline"],
    description=(
        "Object storage reconciled with `files` under uploads/, thumbnails/ and quarantine/: "
        "orphans (no row, older than the grace period) and leftovers of deleted or infected files "
        "removed; live rows whose blob is missing reported."
    ),
)
def storage_reconciliation(
    context: dg.AssetExecutionContext,
    config: ReconciliationConfig,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
) -> dg.MaterializeResult:
    result = reconcile(
        storage,
        postgres,
        grace_seconds=config.grace_seconds,
        log=context.log,
        dry_run=config.dry_run,
    )
    return dg.MaterializeResult(
        metadata={
            "blobs_checked": result.blobs_checked,
            "dry_run": result.dry_run,
            "orphans": len(result.orphans),
            "orphans_in_grace": len(result.orphans_in_grace),
            "leftovers": len(result.leftovers),
            "rows_missing_blob": len(result.rows_missing_blob),
            "orphan_keys": dg.MetadataValue.json(result.orphans[:100]),
            "leftover_keys": dg.MetadataValue.json(result.leftovers[:100]),
            "rows_missing_blob_ids": dg.MetadataValue.json(result.rows_missing_blob[:100]),
        }
    )


reconcile_storage = dg.define_asset_job(
    name="reconcile_storage",
    selection=dg.AssetSelection.assets(storage_reconciliation),
    description="Remove orphan blobs and report rows whose blob is missing.",
)

reconcile_storage_hourly = dg.ScheduleDefinition(
    name="reconcile_storage_hourly",
    job=reconcile_storage,
    cron_schedule="17 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
