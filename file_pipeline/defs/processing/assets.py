"""Processing domain: assets materialized by sensor-launched runs, one batch of events per run."""

import time

import dagster as dg

from file_pipeline.db import queries
from file_pipeline.defs.processing.batch import load_batch
from file_pipeline.defs.processing.config import EventBatchConfig
from file_pipeline.defs.upload.assets import file_events
from file_pipeline.errors import ImageProcessingError, ObjectStoreError
from file_pipeline.events import EventType
from file_pipeline.processing.exif import extract_exif, is_image_content_type
from file_pipeline.resources import KafkaResource, ObjectStorageResource, PostgresResource

GROUP = "processing"
MAX_IMAGE_BYTES = 64 * 1024 * 1024


def _outcomes_table(rows: list[dict[str, object]]) -> dg.MetadataValue:
    return dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in rows],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("file_id", "string"),
                dg.TableColumn("filename", "string"),
                dg.TableColumn("outcome", "string"),
                dg.TableColumn("detail", "string"),
            ]
        ),
    )


@dg.asset(
    group_name=GROUP,
    deps=[file_events],
    kinds={"postgres", "s3"},
    owners=["team:file-pipeline"],
    description=(
        "EXIF metadata (camera, timestamps, GPS, dimensions, orientation) of uploaded images, "
        "upserted into `exif_metadata` (jsonb plus columns people query)."
    ),
)
def exif_metadata(
    context: dg.AssetExecutionContext,
    config: EventBatchConfig,
    kafka: KafkaResource,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
) -> dg.MaterializeResult:
    started = time.monotonic()
    events = [
        e for e in load_batch(context, config, kafka) if e.event.event_type == EventType.UPLOADED
    ]
    outcomes: list[dict[str, object]] = []
    with postgres.connection() as conn:
        rows = queries.get_files(conn, [e.event.file.id for e in events])
        for received in events:
            meta = received.event.file
            row = rows.get(meta.id)
            if row is None or row["deleted_at"] is not None:
                outcome, detail = "skipped", "no live row in files for this id"
            elif not is_image_content_type(row["content_type"]):
                outcome, detail = "skipped", f"not an image ({row['content_type']})"
            elif row["file_size"] > MAX_IMAGE_BYTES:
                outcome, detail = "skipped", f"larger than {MAX_IMAGE_BYTES} bytes"
            else:
                try:
                    exif = extract_exif(storage.get_bytes(row["s3_key"]))
                except (ImageProcessingError, ObjectStoreError) as exc:
                    outcome, detail = "failed", str(exc)
                else:
                    queries.upsert_exif(conn, meta.id, exif, received.dedup_key, context.run.run_id)
                    camera = " ".join(filter(None, [exif.camera_make, exif.camera_model]))
                    outcome = "done"
                    detail = f"{exif.width}x{exif.height}" + (f", {camera}" if camera else "")
            if row is not None:
                queries.record_result(
                    conn,
                    meta.id,
                    "exif_metadata",
                    outcome,
                    detail,
                    received.dedup_key,
                    context.run.run_id,
                )
            conn.commit()
            outcomes.append(
                {
                    "file_id": meta.id,
                    "filename": meta.filename,
                    "outcome": outcome,
                    "detail": detail,
                }
            )
            if outcome == "failed":
                context.log.warning(f"exif failed for {meta.id} ({meta.filename}): {detail}")
    counts = {
        k: sum(1 for o in outcomes if o["outcome"] == k) for k in ("done", "skipped", "failed")
    }
    return dg.MaterializeResult(
        metadata={
            "files_processed": counts["done"],
            "files_skipped": counts["skipped"],
            "files_failed": counts["failed"],
            "duration_seconds": round(time.monotonic() - started, 3),
            "outcomes": _outcomes_table(outcomes),
        }
    )
