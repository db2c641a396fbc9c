"""The processing job the `file_events_sensor` launches, one run per batch of events."""

import dagster as dg

from file_pipeline.defs.processing.assets import exif_metadata

PROCESSING_ASSETS = [exif_metadata]

process_file_events = dg.define_asset_job(
    name="process_file_events",
    selection=dg.AssetSelection.assets(*PROCESSING_ASSETS),
    description="Process one batch of `file-events` (offset ranges in run config).",
    tags={"file_pipeline/kind": "processing"},
)
