"""Analytics domain: statistics over the application tables (UI and `file-pipeline stats`)."""

import dagster as dg

from file_pipeline.analytics.stage_status import stage_status, status_numbers
from file_pipeline.analytics.statistics import compute_statistics
from file_pipeline.defs.processing.assets import notifications
from file_pipeline.defs.processing.reprocess import current_versions
from file_pipeline.defs.upload.assets import file_events
from file_pipeline.resources import (
    ClamAVResource,
    KafkaResource,
    PostgresResource,
    ProcessingResource,
)


def latest_consumer_lag(instance: dg.DagsterInstance) -> int | None:
    """The lag the `file_events_sensor` observed on its latest tick."""
    records = instance.fetch_observations(file_events.key, limit=1).records
    if not records:
        return None
    observation = records[0].asset_observation
    value = observation.metadata.get("consumer_lag") if observation else None
    return int(value.value) if value is not None else None


@dg.asset(
    group_name="analytics",
    deps=[notifications],
    kinds={"postgres", "pandas"},
    owners=["team:file-pipeline"],
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "Totals and breakdowns of stored files (by user, content type and status), bytes, "
        "upload-to-processed latency (p50/p95), dead-letter size, consumer lag, and per stage "
        "how many files are done, stale, failed, skipped or missing, with the top failure "
        "reasons. Numbers are metadata, so the UI plots them over time; materialized after "
        "each processing run."
    ),
)
def file_statistics(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    kafka: KafkaResource,
    clamav: ClamAVResource,
    processing: ProcessingResource,
) -> dg.MaterializeResult:
    with postgres.connection() as conn:
        stats = compute_statistics(conn, kafka)
    report = stage_status(postgres, None, current_versions(processing, clamav))
    metadata: dict[str, object] = dict(stats.numbers())
    metadata.update(status_numbers(report))
    metadata["top_failures"] = dg.MetadataValue.md(
        "\n".join(
            ["| stage | error type | reason | files |", "| --- | --- | --- | --- |"]
            + [
                f"| {f['stage']} | {f['error_type'] or ''} | "
                f"{f['reason'].replace('|', '/')} | {f['files']} |"
                for f in report["top_failures"]
            ]
        )
    )
    lag = latest_consumer_lag(context.instance)
    if lag is not None:
        metadata["consumer_lag"] = lag
    metadata["by_user"] = dg.MetadataValue.md(stats.by_user.to_markdown(index=False))
    metadata["by_content_type"] = dg.MetadataValue.md(
        stats.by_content_type.to_markdown(index=False)
    )
    metadata["by_status"] = dg.MetadataValue.md(
        "\n".join(["| status | files |", "| --- | --- |"])
        + "\n"
        + "\n".join(f"| {s} | {n} |" for s, n in stats.by_status.items())
    )
    return dg.MaterializeResult(metadata=metadata)


statistics_automation_sensor = dg.AutomationConditionSensorDefinition(
    "statistics_automation_sensor",
    target=dg.AssetSelection.assets(file_statistics),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Evaluates `file_statistics`'s eager condition: refresh after processing runs.",
)
