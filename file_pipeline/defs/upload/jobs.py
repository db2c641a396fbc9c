"""Upload jobs, launched from the Launchpad or by `file-pipeline upload`."""

import dagster as dg

from file_pipeline.defs.upload.assets import file_events, uploaded_files

upload_files = dg.define_asset_job(
    name="upload_files",
    selection=dg.AssetSelection.assets(uploaded_files, file_events),
    description=(
        "Upload local files (paths, directories, globs): blobs to object storage, rows and outbox "
        "events to PostgreSQL in one transaction, then publish the events to Kafka."
    ),
    tags={"file_pipeline/kind": "upload"},
)
