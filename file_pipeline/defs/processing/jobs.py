"""The processing job: the `file_events_sensor` launches it per batch of events, and reprocess
batches launch it per batch of file ids (selecting only the stages they redo)."""

import dagster as dg

from file_pipeline.defs.processing.assets import PROCESSING_ASSETS

process_file_events = dg.define_asset_job(
    name="process_file_events",
    selection=dg.AssetSelection.assets(*PROCESSING_ASSETS).without_checks(),
    description=(
        "Process one batch of files: offset ranges of `file-events` (from the sensor) or file ids "
        "(a reprocess batch), given in run config."
    ),
    tags={"file_pipeline/kind": "processing", "dagster/max_retries": "2"},
)
