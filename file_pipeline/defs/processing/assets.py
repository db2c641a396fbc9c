"""Processing domain: the assets a processing run materializes, one batch of files per run.

`virus_scan` runs first and decides each file's status; the derived stages (`exif_metadata`,
`thumbnails`, `search_index`) only touch files it found clean, and are computed together from
one read and one decode of each file (one step, three assets: a reprocess can select any of
them); `notifications` brings each file to its final state. The per-file work lives in
`file_pipeline.processing`; these functions bind it to resources and report metadata.
"""

from collections.abc import Iterator

import dagster as dg

from file_pipeline import settings
from file_pipeline.defs.processing.config import ProcessingBatchConfig
from file_pipeline.defs.processing.metadata import stage_metadata
from file_pipeline.defs.upload.assets import file_events
from file_pipeline.processing.batch import LoadedBatch, load_event_items, reprocess_items
from file_pipeline.processing.derived import DerivedContext, decode_ahead, derived_batch
from file_pipeline.processing.notify import NotifyContext, notify_batch
from file_pipeline.processing.versions import (
    CODE_VERSIONS,
    TextLimits,
    VideoSettings,
    exif_version,
    parse_renditions,
    search_index_version,
    thumbnails_version,
)
from file_pipeline.processing.virus_scan import ScanContext, scan_batch
from file_pipeline.resources import (
    ClamAVResource,
    KafkaResource,
    ObjectStorageResource,
    PostgresResource,
    ProcessingResource,
)
from file_pipeline.states import FileStatus, Stage

GROUP = "processing"
OWNERS = ["team:file-pipeline"]


def load_batch(
    context: dg.AssetExecutionContext,
    config: ProcessingBatchConfig,
    kafka: KafkaResource,
    postgres: PostgresResource,
) -> LoadedBatch:
    """The run's work items: its events by offset, or the files a reprocess batch names."""
    if config.file_ids:
        source = config.source or f"reprocess:{context.run.run_id}"
        batch = reprocess_items(postgres, config.file_ids, source, force=config.force)
    else:
        batch = load_event_items(kafka, config.topic, config.offset_ranges())
    if batch.missing:
        context.log.warning(f"not found, not processed: {', '.join(batch.missing[:20])}")
    context.log.info(f"batch: {len(batch.items)} files")
    return batch


def derived_context(
    context: dg.AssetExecutionContext,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    processing: ProcessingResource,
    stages: frozenset[Stage],
) -> DerivedContext:
    return DerivedContext(
        storage=storage,
        postgres=postgres,
        spool=processing.spool(context.run.run_id),
        settings=processing.derived_settings(),
        run_id=context.run.run_id,
        log=context.log,
        stages=stages,
        workers=processing.derive_workers(),
    )


def derived_stages_of_run(context: dg.AssetExecutionContext) -> frozenset[Stage]:
    """The derived stages this run materializes: all of them unless it is a subset (a run of the
    whole job has no asset selection, None or empty)."""
    selection = context.run.asset_selection
    return frozenset(
        stage for stage in Stage.derived() if not selection or dg.AssetKey(stage.value) in selection
    )


@dg.asset(
    group_name=GROUP,
    deps=[file_events],
    kinds={"s3", "postgres"},
    owners=OWNERS,
    pool="virus_scan",
    code_version=CODE_VERSIONS[Stage.VIRUS_SCAN],
    description=(
        "ClamAV verdict per uploaded file, and a check that the blob still matches its row. "
        "Infected files move to `quarantine/`; files clamd cannot fully scan are `failed`; if "
        "clamd is unreachable the files stay pending (fail closed) and the run fails so Dagster "
        "retries it."
    ),
)
def virus_scan(
    context: dg.AssetExecutionContext,
    config: ProcessingBatchConfig,
    kafka: KafkaResource,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    clamav: ClamAVResource,
    processing: ProcessingResource,
) -> dg.MaterializeResult:
    # Started now, ready when needed: the decoding workers for derived_outputs, and the producer
    # (its idempotence handshake takes about half a second) for notifications.
    processing.start_workers()
    kafka.producer()
    batch = load_batch(context, config, kafka, postgres)
    spool = processing.spool(context.run.run_id)
    spool.sweep_stale()
    # Each file found clean starts decoding at once, while the rest of the batch is scanned.
    derived = derived_context(
        context, storage, postgres, processing, derived_stages_of_run(context)
    )
    scan = ScanContext(
        storage=storage,
        postgres=postgres,
        scanner=clamav.scanner(),
        spool=spool,
        settings=processing.scan_settings(clamav.max_scan_bytes),
        run_id=context.run.run_id,
        log=context.log,
        on_clean=(lambda row: decode_ahead(derived, row)) if derived.stages else None,
    )
    report = scan_batch(scan, batch.items)
    metadata = stage_metadata(report, batch)
    metadata["files_infected"] = report.count_status(FileStatus.INFECTED)
    return dg.MaterializeResult(metadata=metadata)


def _derived_specs() -> list[dg.AssetSpec]:
    """One spec per derived stage (built here, not at module level, where the defs loader would
    take them for assets of their own)."""
    return [
        dg.AssetSpec(
            Stage.EXIF_METADATA.value,
            deps=[virus_scan],
            group_name=GROUP,
            kinds={"postgres"},
            owners=OWNERS,
            code_version=exif_version(),
            description=(
                "EXIF metadata (camera, timestamps, GPS, dimensions, orientation) of clean images, "
                "and of videos what ffprobe reads from the container (duration, codec, frame "
                "rate, rotation, creation time, camera and location), upserted into "
                "`exif_metadata` (jsonb plus columns people query)."
            ),
        ),
        dg.AssetSpec(
            Stage.THUMBNAILS.value,
            deps=[virus_scan],
            group_name=GROUP,
            kinds={"s3", "postgres"},
            owners=OWNERS,
            code_version=thumbnails_version(
                parse_renditions(settings.THUMBNAIL_RENDITIONS.value()),
                VideoSettings.parse(
                    settings.VIDEO_POSTER_FRAMES.value(),
                    settings.VIDEO_WEB_RENDITION_HEIGHT.value(),
                    settings.VIDEO_WEB_RENDITION_MAX_MB.value(),
                ),
            ),
            description=(
                "Renditions of clean images (JPEG, PNG, GIF, WebP, TIFF, BMP, HEIC, AVIF), "
                "of PDFs' first page and of videos' middle poster frame (THUMBNAIL_RENDITIONS; "
                "by default a 250 px and a 720 px WebP and a 1440 px JPEG), orientation "
                "applied, under `thumbnails/<file-id>/`, and a ThumbHash placeholder on the "
                "file's row. Videos also get `poster_<percent>` frames (VIDEO_POSTER_FRAMES) "
                "and, when VIDEO_WEB_RENDITION_HEIGHT is set, an H.264 MP4 web rendition."
            ),
        ),
        dg.AssetSpec(
            Stage.SEARCH_INDEX.value,
            deps=[virus_scan],
            group_name=GROUP,
            kinds={"postgres"},
            owners=OWNERS,
            code_version=search_index_version(TextLimits()),
            description=(
                "PostgreSQL full-text index of clean files: filenames for everything, plus the "
                "text of plain text, Markdown, CSV, JSON, PDF, Word, Excel and PowerPoint, with "
                "the counts of sensitive data found in it (e-mail addresses, phone, payment "
                "card, IBAN and national id numbers) on the file's row. "
                "`file-pipeline search QUERY` ranks it."
            ),
        ),
    ]


@dg.multi_asset(
    name="derived_outputs",
    specs=_derived_specs(),
    can_subset=True,
    pool="derived_outputs",
    description=(
        "EXIF, renditions and text of each clean file of the batch, from one read and one decode "
        "of the file, on one worker process per core, each file within a time and memory budget."
    ),
)
def derived_outputs(
    context: dg.AssetExecutionContext,
    config: ProcessingBatchConfig,
    kafka: KafkaResource,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    processing: ProcessingResource,
) -> Iterator[dg.MaterializeResult]:
    batch = load_batch(context, config, kafka, postgres)
    stages = frozenset(Stage(key.to_user_string()) for key in context.selected_asset_keys)
    derived = derived_context(context, storage, postgres, processing, stages)
    reports = derived_batch(derived, batch.items)
    for stage, report in reports.items():
        metadata = stage_metadata(report, batch)
        metadata["files_decoded_during_scan"] = derived.workers.taken_ahead
        yield dg.MaterializeResult(asset_key=stage.value, metadata=metadata)


@dg.asset(
    group_name=GROUP,
    deps=[stage.value for stage in Stage.derived()],
    kinds={"postgres", "kafka"},
    owners=OWNERS,
    code_version=CODE_VERSIONS[Stage.NOTIFICATIONS],
    description=(
        "Each file's final state (`processed_at`) and one notification per file and event "
        "(processed, failed, infected, deleted) in the `notifications` table and on the "
        "`file-notifications` topic."
    ),
)
def notifications(
    context: dg.AssetExecutionContext,
    config: ProcessingBatchConfig,
    kafka: KafkaResource,
    postgres: PostgresResource,
    processing: ProcessingResource,
) -> dg.MaterializeResult:
    batch = load_batch(context, config, kafka, postgres)
    notify = NotifyContext(
        postgres=postgres, kafka=kafka, run_id=context.run.run_id, log=context.log
    )
    report, published = notify_batch(notify, batch.items)
    processing.spool(context.run.run_id).remove()
    metadata = stage_metadata(report, batch)
    metadata["notifications_published"] = published
    return dg.MaterializeResult(metadata=metadata)


PROCESSING_ASSETS = [virus_scan, derived_outputs, notifications]
