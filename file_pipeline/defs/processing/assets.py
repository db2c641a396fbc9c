"""Processing domain: assets materialized by sensor-launched runs, one batch of events per run.

`virus_scan` runs first and decides each file's status; the other steps only touch files it
found clean. DELETED events remove each step's derived outputs. Every step is idempotent per
file, so a redelivered batch leaves exactly one output per file.
"""

import json
from typing import Any

import dagster as dg
import psycopg

from file_pipeline import keys
from file_pipeline.db import queries
from file_pipeline.defs.processing.config import EventBatchConfig
from file_pipeline.defs.processing.steps import (
    StepOutcome,
    is_clean,
    not_clean_reason,
    process_batch,
)
from file_pipeline.defs.upload.assets import file_events
from file_pipeline.event_batches import ReceivedEvent
from file_pipeline.events import EventType
from file_pipeline.processing.exif import extract_exif, is_image_content_type
from file_pipeline.processing.scanning import ScanError, ScannerUnavailableError
from file_pipeline.processing.text_extraction import extract_text, searchable_filename
from file_pipeline.processing.thumbnails import make_renditions, rendition_key
from file_pipeline.resources import (
    ClamAVResource,
    KafkaResource,
    ObjectStorageResource,
    PostgresResource,
)

GROUP = "processing"
OWNERS = ["team:file-pipeline"]
MAX_IMAGE_BYTES = 64 * 1024 * 1024
MAX_TEXT_SOURCE_BYTES = 20 * 1024 * 1024
PROCESSING_STEPS = ("virus_scan", "exif_metadata", "thumbnails", "search_index")

Row = dict[str, Any] | None


def _not_a_clean_image(row: Row) -> StepOutcome | None:
    """Why an image step skips this file, or None when it is a clean image it can decode."""
    if not is_clean(row):
        return StepOutcome("skipped", not_clean_reason(row))
    assert row is not None
    if not is_image_content_type(row["content_type"]):
        return StepOutcome("skipped", f"not an image ({row['content_type']})")
    if row["file_size"] > MAX_IMAGE_BYTES:
        return StepOutcome("skipped", f"larger than {MAX_IMAGE_BYTES} bytes")
    return None


def _deleted(received: ReceivedEvent) -> bool:
    return received.event.event_type == EventType.DELETED


@dg.asset(
    group_name=GROUP,
    deps=[file_events],
    kinds={"s3", "postgres"},
    owners=OWNERS,
    description=(
        "ClamAV verdict per uploaded file. Infected files move to `quarantine/` and are marked "
        "infected; if clamd is unreachable files stay pending (fail closed) and the run fails so "
        "Dagster retries it."
    ),
)
def virus_scan(
    context: dg.AssetExecutionContext,
    config: EventBatchConfig,
    kafka: KafkaResource,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    clamav: ClamAVResource,
) -> dg.MaterializeResult:
    scanner = clamav.scanner()
    unavailable: list[str] = []

    def scan(conn: psycopg.Connection, received: ReceivedEvent, row: Row) -> StepOutcome:
        if _deleted(received):
            return StepOutcome("skipped", "DELETED event")
        if row is None or row["deleted_at"] is not None:
            return StepOutcome("skipped", not_clean_reason(row))
        if row["status"] in ("clean", "infected"):
            return StepOutcome("skipped", f"already scanned: {row['status']}")
        if row["file_size"] > clamav.max_scan_bytes:
            queries.set_scan_verdict(conn, row["id"], "failed", None, "clamd")
            return StepOutcome(
                "failed", f"larger than the scanner's limit ({clamav.max_scan_bytes} bytes)"
            )
        try:
            body = storage.open_stream(row["s3_key"])
            try:
                verdict = scanner.scan_stream(body)
            finally:
                body.close()
        except ScanError as exc:
            # clamd answered, about this file (e.g. over its size limit): it can never be
            # called clean, and retrying will not change that.
            queries.set_scan_verdict(conn, row["id"], "failed", None, "clamd")
            return StepOutcome("failed", f"cannot be scanned, marked failed: {exc.clamd_message}")
        except ScannerUnavailableError as exc:
            unavailable.append(row["id"])
            return StepOutcome("failed", f"no verdict, file stays pending: {exc}")
        if verdict.clean:
            queries.set_scan_verdict(conn, row["id"], "clean", None, verdict.engine)
            return StepOutcome("done", "clean")
        quarantined = keys.quarantine_key(row["s3_key"])
        storage.move(row["s3_key"], quarantined)
        queries.set_scan_verdict(
            conn,
            row["id"],
            "infected",
            verdict.signature,
            verdict.engine,
            s3_key=quarantined,
            s3_url=storage.object_url(quarantined),
        )
        return StepOutcome("done", f"infected: {verdict.signature}; moved to {quarantined}")

    metadata, outcomes = process_batch(context, "virus_scan", config, kafka, postgres, scan)
    metadata["files_infected"] = sum(1 for o in outcomes if o["detail"].startswith("infected"))
    if unavailable:
        raise dg.Failure(
            description=f"ClamAV unavailable: {len(unavailable)} files stay pending",
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name=GROUP,
    deps=[virus_scan],
    kinds={"postgres", "s3"},
    owners=OWNERS,
    description=(
        "EXIF metadata (camera, timestamps, GPS, dimensions, orientation) of clean images, "
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
    def extract(conn: psycopg.Connection, received: ReceivedEvent, row: Row) -> StepOutcome:
        file_id = received.event.file.id
        if _deleted(received):
            removed = queries.delete_derived(conn, file_id, "exif_metadata")
            return StepOutcome("done", f"DELETED: removed {removed} rows")
        if (skip := _not_a_clean_image(row)) is not None:
            return skip
        assert row is not None
        exif = extract_exif(storage.get_bytes(row["s3_key"]))
        queries.upsert_exif(conn, file_id, exif, received.dedup_key, context.run.run_id)
        camera = " ".join(filter(None, [exif.camera_make, exif.camera_model]))
        return StepOutcome(
            "done", f"{exif.width}x{exif.height}" + (f", {camera}" if camera else "")
        )

    metadata, _ = process_batch(context, "exif_metadata", config, kafka, postgres, extract)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name=GROUP,
    deps=[virus_scan],
    kinds={"s3", "postgres"},
    owners=OWNERS,
    description=(
        "For clean images: a thumbnail (fits 250x250, WebP) and a preview (1440 px, JPEG), EXIF "
        "orientation applied, under `thumbnails/<file-id>/`. Bombs and corrupt images fail that "
        "file only."
    ),
)
def thumbnails(
    context: dg.AssetExecutionContext,
    config: EventBatchConfig,
    kafka: KafkaResource,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
) -> dg.MaterializeResult:
    def render(conn: psycopg.Connection, received: ReceivedEvent, row: Row) -> StepOutcome:
        file_id = received.event.file.id
        if _deleted(received):
            stale = storage.list_keys(keys.thumbnail_prefix(file_id))
            for key in stale:
                storage.delete(key)
            queries.delete_derived(conn, file_id, "thumbnails")
            return StepOutcome("done", f"DELETED: removed {len(stale)} objects")
        if (skip := _not_a_clean_image(row)) is not None:
            return skip
        assert row is not None
        renditions = make_renditions(storage.get_bytes(row["s3_key"]))
        for rendition in renditions:
            key = rendition_key(file_id, rendition)
            storage.put_bytes(key, rendition.data, rendition.content_type)
            queries.upsert_thumbnail(
                conn,
                file_id,
                rendition.name,
                key,
                rendition.content_type,
                rendition.width,
                rendition.height,
                len(rendition.data),
            )
        sizes = ", ".join(f"{r.name} {r.width}x{r.height}" for r in renditions)
        return StepOutcome("done", sizes)

    metadata, _ = process_batch(context, "thumbnails", config, kafka, postgres, render)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name=GROUP,
    deps=[virus_scan],
    kinds={"postgres", "s3"},
    owners=OWNERS,
    description=(
        "PostgreSQL full-text index of clean files: filenames for everything, plus the text of "
        "plain text, Markdown, CSV, JSON and PDF. `file-pipeline search QUERY` ranks it."
    ),
)
def search_index(
    context: dg.AssetExecutionContext,
    config: EventBatchConfig,
    kafka: KafkaResource,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
) -> dg.MaterializeResult:
    def index(conn: psycopg.Connection, received: ReceivedEvent, row: Row) -> StepOutcome:
        file_id = received.event.file.id
        if _deleted(received) or (row is not None and row["status"] == "infected"):
            removed = queries.delete_derived(conn, file_id, "search_index")
            return StepOutcome("done" if _deleted(received) else "skipped", f"removed {removed}")
        if not is_clean(row):
            return StepOutcome("skipped", not_clean_reason(row))
        assert row is not None
        body = ""
        if row["file_size"] <= MAX_TEXT_SOURCE_BYTES:
            body = extract_text(
                storage.get_bytes(row["s3_key"]), row["content_type"] or "", row["filename"]
            )
        queries.upsert_search_document(
            conn,
            file_id,
            searchable_filename(row["filename"]),
            row["uploaded_by"],
            row["content_type"],
            body,
        )
        return StepOutcome("done", f"{len(body)} characters of text" if body else "filename only")

    metadata, _ = process_batch(context, "search_index", config, kafka, postgres, index)
    return dg.MaterializeResult(metadata=metadata)


def _notification_for(
    received: ReceivedEvent, row: Row, results: dict[str, str]
) -> tuple[str, str]:
    name = received.event.file.filename
    if _deleted(received):
        return "deleted", f"Your file {name} was deleted."
    if row is not None and row["status"] == "infected":
        return "infected", f"Your file {name} was quarantined: {row['scan_signature']}."
    failed = sorted(step for step, outcome in results.items() if outcome == "failed")
    if failed:
        return "failed", f"Processing of {name} failed in {', '.join(failed)}."
    return "processed", f"Your file {name} is ready!"


@dg.asset(
    group_name=GROUP,
    deps=[exif_metadata, thumbnails, search_index],
    kinds={"postgres", "kafka"},
    owners=OWNERS,
    description=(
        "One notification per processed file and event (processed, failed, infected, deleted) "
        "in the `notifications` table and on the `file-notifications` topic."
    ),
)
def notifications(
    context: dg.AssetExecutionContext,
    config: EventBatchConfig,
    kafka: KafkaResource,
    postgres: PostgresResource,
) -> dg.MaterializeResult:
    def notify(conn: psycopg.Connection, received: ReceivedEvent, row: Row) -> StepOutcome:
        meta = received.event.file
        if row is None:
            return StepOutcome("skipped", "no row in files for this id")
        results = queries.step_outcomes(conn, meta.id, received.dedup_key)
        if not _deleted(received) and "virus_scan" in results and row["status"] == "pending":
            return StepOutcome("skipped", "file is still pending a virus scan verdict")
        kind, message = _notification_for(received, row, results)
        payload = json.dumps(
            {
                "fileId": meta.id,
                "kind": kind,
                "recipient": row["uploaded_by"],
                "message": message,
                "sourceEvent": received.dedup_key,
                "steps": results,
            },
            ensure_ascii=False,
        )
        created = queries.insert_notification(
            conn, meta.id, received.dedup_key, kind, row["uploaded_by"], message, payload
        )
        if kind in ("processed", "failed", "infected"):
            queries.mark_processed(conn, meta.id)
        return StepOutcome("done" if created else "skipped", f"{kind}: {message}")

    metadata, _ = process_batch(context, "notifications", config, kafka, postgres, notify)
    metadata["notifications_published"] = publish_notifications(postgres, kafka, context.log)
    return dg.MaterializeResult(metadata=metadata)


def publish_notifications(
    postgres: PostgresResource, kafka: KafkaResource, log: Any, limit: int = 1000
) -> int:
    """Publish unpublished notifications (like the outbox: marked only once acknowledged)."""
    with postgres.connection() as conn:
        pending = queries.unpublished_notifications(conn, limit)
        if not pending:
            return 0
        acknowledged: list[int] = []
        producer = kafka.producer()
        for notification_id, file_id, payload in pending:
            producer.produce(
                kafka.notifications_topic,
                key=file_id.encode(),
                value=payload.encode(),
                on_delivery=lambda err, _msg, nid=notification_id: (
                    acknowledged.append(nid) if err is None else None
                ),
            )
            producer.poll(0)
        remaining = producer.flush(30)
        if remaining or len(acknowledged) < len(pending):
            log.warning(
                f"{len(pending) - len(acknowledged)} notifications not acknowledged; "
                "they are published by the next run"
            )
        queries.mark_notifications_published(conn, acknowledged)
        conn.commit()
    return len(acknowledged)
