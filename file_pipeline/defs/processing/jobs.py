"""The processing job the `file_events_sensor` launches, one run per batch of events."""

import dagster as dg

from file_pipeline.defs.processing.assets import (
    exif_metadata,
    notifications,
    search_index,
    thumbnails,
    virus_scan,
)

PROCESSING_ASSETS = [virus_scan, exif_metadata, thumbnails, search_index, notifications]

process_file_events = dg.define_asset_job(
    name="process_file_events",
    selection=dg.AssetSelection.assets(*PROCESSING_ASSETS).without_checks(),
    description="Process one batch of `file-events` (offset ranges in run config).",
    # One process for the whole batch: a step subprocess per asset would cost seconds per run.
    executor_def=dg.in_process_executor,
    tags={"file_pipeline/kind": "processing", "dagster/max_retries": "2"},
)
