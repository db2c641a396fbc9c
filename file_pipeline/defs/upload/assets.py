"""Upload domain: `uploaded_files` (blobs + rows + outbox) and `file_events` (the outbox relay)."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from file_pipeline.errors import InvalidUploadError
from file_pipeline.resources import KafkaResource, ObjectStorageResource, PostgresResource
from file_pipeline.upload import progress
from file_pipeline.upload.deletion import delete_files
from file_pipeline.upload.ingest import ingest_files
from file_pipeline.upload.local_files import expand_paths
from file_pipeline.upload.outbox import relay_outbox

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples"
GROUP = "upload"


class UploadConfig(dg.Config):
    """What to upload. The default uploads the demo's sample files."""

    paths: list[str] = Field(
        default=[str(SAMPLES_DIR)],
        description="Local files, directories (recursive) or globs (`**` allowed) to upload.",
    )
    uploaded_by: str = Field(default="demo", description="User the files belong to.")
    description: str | None = Field(
        default=None, description="Optional description for every file."
    )


def _files_table(files: list[dict[str, object]]) -> dg.MetadataValue:
    return dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in files],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("id", "string"),
                dg.TableColumn("filename", "string"),
                dg.TableColumn("content_type", "string"),
                dg.TableColumn("file_size", "int"),
                dg.TableColumn("s3_key", "string"),
            ]
        ),
    )


@dg.asset(
    group_name=GROUP,
    kinds={"s3", "postgres"},
    owners=["team:file-pipeline"],
    description=(
        "Files uploaded to object storage, each with a `files` row and an outbox event committed "
        "in one PostgreSQL transaction."
    ),
)
def uploaded_files(
    context: dg.AssetExecutionContext,
    config: UploadConfig,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    kafka: KafkaResource,
) -> dg.MaterializeResult:
    # The idempotent producer's handshake (about half a second) runs while the files upload, so
    # `file_events` publishes at once.
    kafka.producer()
    paths, rejected = expand_paths(config.paths)
    for r in rejected:
        context.log.warning(f"not uploading {r.path}: {r.reason}")
    if not paths:
        reasons = "; ".join(f"{r.path}: {r.reason}" for r in rejected) or "no paths given"
        raise InvalidUploadError(f"nothing to upload ({reasons})")
    result = ingest_files(
        storage,
        postgres,
        paths,
        uploaded_by=config.uploaded_by,
        description=config.description,
        topic=kafka.file_events_topic,
        run_id=context.run.run_id,
        log=context.log,
        on_progress=progress.report,
    )
    rejected.extend(result.rejected)
    rows = [
        {
            "id": f.id,
            "filename": f.filename,
            "content_type": f.content_type,
            "file_size": f.file_size,
            "s3_key": f.s3_key,
        }
        for f in result.stored
    ]
    context.log.info(f"stored {len(result.stored)} files ({result.bytes_stored} bytes)")
    for entry in result.existing:
        context.log.info(f"{entry.path}: identical bytes already stored as {entry.file.id}")
    if rejected:
        context.log.warning(f"{len(rejected)} paths rejected")
    return dg.MaterializeResult(
        metadata={
            "files": len(result.stored),
            "bytes": result.bytes_stored,
            "rejected": len(rejected),
            "already_stored": len(result.existing),
            "already_stored_ids": dg.MetadataValue.json(
                [
                    {"id": e.file.id, "filename": e.file.filename, "path": e.path}
                    for e in result.existing
                ]
            ),
            "rejected_paths": dg.MetadataValue.json(
                [{"path": r.path, "reason": r.reason} for r in rejected]
            ),
            "uploaded_by": config.uploaded_by,
            "file_table": _files_table(rows),
        }
    )


class DeleteConfig(dg.Config):
    """Which files to delete."""

    file_ids: list[str] = Field(description="Ids of the files to delete.")


@dg.asset(
    group_name=GROUP,
    kinds={"s3", "postgres"},
    owners=["team:file-pipeline"],
    description=(
        "Files deleted by `delete_files` runs: row marked deleted and a DELETED event queued in "
        "one transaction, then the blob and its derived outputs removed."
    ),
)
def deleted_files(
    context: dg.AssetExecutionContext,
    config: DeleteConfig,
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    kafka: KafkaResource,
) -> dg.MaterializeResult:
    result = delete_files(
        storage, postgres, config.file_ids, topic=kafka.file_events_topic, log=context.log
    )
    for file_id in result.missing:
        context.log.warning(f"no file with id {file_id}")
    return dg.MaterializeResult(
        metadata={
            "deleted": len(result.deleted),
            "already_deleted": len(result.already_deleted),
            "missing": len(result.missing),
            "objects_removed": result.objects_removed,
            "leftover_objects": len(result.leftovers),
            "deleted_ids": dg.MetadataValue.json(result.deleted),
            "missing_ids": dg.MetadataValue.json(result.missing),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[uploaded_files, deleted_files],
    kinds={"kafka", "postgres"},
    owners=["team:file-pipeline"],
    description=(
        "Events on the `file-events` topic, published from the transactional outbox by an "
        "idempotent producer and marked sent once Kafka acknowledged them."
    ),
)
def file_events(
    context: dg.AssetExecutionContext, postgres: PostgresResource, kafka: KafkaResource
) -> dg.MaterializeResult:
    result = relay_outbox(postgres, kafka, context.log)
    if result.pending:
        context.log.warning(
            f"{result.pending} events wait in the outbox (Kafka unavailable?); "
            "the outbox relay sends them when Kafka is back"
        )
    return dg.MaterializeResult(
        metadata={
            "events_published": result.sent,
            "events_failed": result.failed,
            "events_pending": result.pending,
            "topic": kafka.file_events_topic,
            "partition_offsets": dg.MetadataValue.json(
                {
                    str(p): {"first": lo, "last": hi}
                    for p, (lo, hi) in sorted(result.offsets.items())
                }
            ),
        }
    )
