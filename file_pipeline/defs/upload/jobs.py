"""Upload-domain jobs: upload, delete, and the outbox relay on its own."""

import dagster as dg

from file_pipeline.defs.upload.assets import deleted_files, file_events, uploaded_files

upload_files = dg.define_asset_job(
    name="upload_files",
    # The data-health checks scan whole tables and the bucket: they run in `check_data_health`
    # every 15 minutes, not in every upload.
    selection=dg.AssetSelection.assets(uploaded_files, file_events).without_checks(),
    description=(
        "Upload local files (paths, directories, globs): blobs to object storage, rows and outbox "
        "events to PostgreSQL in one transaction, then publish the events to Kafka."
    ),
    tags={"file_pipeline/kind": "upload"},
)

delete_files = dg.define_asset_job(
    name="delete_files",
    selection=dg.AssetSelection.assets(deleted_files, file_events).without_checks(),
    description="Delete files: rows marked deleted, DELETED events published, objects removed.",
    tags={"file_pipeline/kind": "delete"},
)

relay_file_events = dg.define_asset_job(
    name="relay_file_events",
    selection=dg.AssetSelection.assets(file_events).without_checks(),
    description="Publish events left in the outbox (e.g. after a Kafka outage).",
    tags={"file_pipeline/kind": "relay"},
)
