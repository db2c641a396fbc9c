"""`file-pipeline upload`, `files list|show|url|share|delete` and `search`: the files themselves."""

from __future__ import annotations

import sys
from typing import Any

import click

from file_pipeline.cli.output import fail, materialization_metadata, print_run_failure
from file_pipeline.db.status import STATES
from file_pipeline.states import SensitiveKind, Stage


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--user", "uploaded_by", required=True, help="User the files belong to.")
@click.option("--description", default=None, help="Description stored with every file.")
def upload(paths: tuple[str, ...], uploaded_by: str, description: str | None) -> None:
    """Upload files, directories or globs by launching the `upload_files` job."""
    from file_pipeline.cli import runtime
    from file_pipeline.upload import progress

    instance = runtime.get_instance()
    with click.progressbar(length=0, label="uploading", show_pos=True) as bar:

        def advance(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        with progress.listening(advance):
            result = runtime.run_upload(list(paths), uploaded_by, description, instance)
    metadata = report_upload(result)
    if not result.success or metadata.get("rejected", 0):
        sys.exit(1)


def report_upload(result: Any) -> dict[str, Any]:
    """Print what an upload run stored, found already stored, and rejected."""
    metadata = materialization_metadata(result, "uploaded_files")
    if not result.success:
        print_run_failure(result)
        return metadata
    click.echo(
        f"run {result.run_id}: {metadata.get('files', 0)} files stored, "
        f"{metadata.get('bytes', 0)} bytes, {metadata.get('rejected', 0)} rejected"
    )
    table = metadata.get("file_table")
    for record in getattr(table, "records", []) or []:
        row = record.data
        click.echo(
            f"  {row['id']}  {row['content_type']:<24} {row['file_size']:>10}  {row['filename']}"
        )
    for existing in metadata.get("already_stored_ids") or []:
        click.echo(f"  {existing['id']}  already stored (identical bytes)  {existing['filename']}")
    for rejected in metadata.get("rejected_paths") or []:
        click.secho(f"  rejected {rejected['path']}: {rejected['reason']}", fg="red", err=True)
    return metadata


@click.group()
def files() -> None:
    """List, inspect, download and delete stored files."""


@files.command("list")
@click.option("--user", "uploaded_by", default=None, help="Only this user's files.")
@click.option("--limit", default=50, show_default=True)
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted files.")
@click.option(
    "--stage",
    type=click.Choice([s.value for s in Stage]),
    default=None,
    help="With --outcome: the files in that state in this stage.",
)
@click.option(
    "--outcome",
    type=click.Choice(list(STATES)),
    default=None,
    help="done, partial, stale, failed, skipped or missing (with --stage).",
)
@click.option(
    "--sensitive",
    type=click.Choice(["any", *(kind.value for kind in SensitiveKind)]),
    default=None,
    help="Only files whose text holds this kind of sensitive data (any: of any kind).",
)
def files_list(
    uploaded_by: str | None,
    limit: int,
    include_deleted: bool,
    stage: str | None,
    outcome: str | None,
    sensitive: str | None,
) -> None:
    """Newest first; or, with --stage and --outcome, the files in that state, oldest first."""
    from file_pipeline.cli.runtime import open_resources
    from file_pipeline.db import files as file_rows

    if (stage is None) != (outcome is None):
        fail("--stage and --outcome go together")
    if stage is not None and outcome is not None:
        if sensitive is not None:
            fail("--sensitive does not go with --stage/--outcome")
        _list_in_state(Stage(stage), outcome, uploaded_by, limit)
        return
    with open_resources() as resources, resources.postgres.connection() as conn:
        rows = file_rows.list_files(conn, uploaded_by, limit, include_deleted, sensitive)
    for row in rows:
        flags = ", ".join(f"{n} {kind}" for kind, n in (row["sensitive_data"] or {}).items())
        click.echo(
            f"{row['id']}  {row['status']:<8} {row['uploaded_by']:<12} "
            f"{row['content_type'] or '?':<24} {row['file_size']:>10}  {row['filename']}"
            + (f"  [sensitive: {flags}]" if flags else "")
        )
    if not rows:
        click.echo("no files")


def _list_in_state(stage: Stage, state: str, uploaded_by: str | None, limit: int) -> None:
    from file_pipeline.cli.runtime import open_resources
    from file_pipeline.db.status import FileFilter, files_in_state
    from file_pipeline.defs.processing.reprocess import current_versions

    with open_resources() as resources:
        versions = current_versions(resources.processing, resources.clamav)
        with resources.postgres.connection() as conn:
            rows = files_in_state(
                conn, versions, [stage], [state], FileFilter(uploaded_by=uploaded_by), limit
            )
    for row in rows:
        reason = f"  {row['error_type'] or ''} {row['detail'] or ''}".rstrip()
        click.echo(
            f"{row['file_id']}  {row['status']:<8} {row['uploaded_by']:<12} "
            f"{row['filename']}{reason}"
        )
    if not rows:
        click.echo(f"no file is {state} in {stage.value}")


@files.command("show")
@click.argument("file_id")
def files_show(file_id: str) -> None:
    """Everything about one file: row, blob, events, stage outcomes, runs."""
    from file_pipeline.cli.runtime import open_resources
    from file_pipeline.db import files as file_rows
    from file_pipeline.db import outbox, outputs

    with open_resources() as resources:
        with resources.postgres.connection() as conn:
            row = file_rows.get_file(conn, file_id)
            if row is None:
                fail(f"no file with id {file_id}")
            events = outbox.file_events(conn, file_id)
            results = outputs.file_results(conn, file_id)
            shared_with = file_rows.shares_of(conn, file_id)
        blob = "present" if resources.storage.exists(row["s3_key"]) else "missing"
        bucket = resources.storage.bucket
    for key, value in row.items():
        click.echo(f"{key:<14} {value}")
    click.echo(f"{'blob':<14} {blob} (s3://{bucket}/{row['s3_key']})")
    click.echo(f"{'shared with':<14} {', '.join(shared_with) or 'nobody'}")
    click.secho("events", bold=True)
    for event in events:
        where = (
            f"partition {event['kafka_partition']} offset {event['kafka_offset']}"
            if event["sent_at"]
            else f"unsent ({event['attempts']} attempts) {event['last_error'] or ''}"
        )
        click.echo(f"  {event['event_type']:<8} {event['event_id']}  {where}")
    click.secho("processing", bold=True)
    for result in results:
        error = f" [{result['error_type']}]" if result["error_type"] else ""
        click.echo(
            f"  {result['stage']:<16} {result['outcome']:<8} {result['detail'] or ''}{error}"
            f"  (version {result['version']}, run {result['processing_run_id']},"
            f" event {result['source_event']})"
        )
    if not results:
        click.echo("  not processed yet")


@files.command("url")
@click.argument("file_id")
@click.option("--expires", default=3600, show_default=True, help="Seconds the URL stays valid.")
def files_url(file_id: str, expires: int) -> None:
    """A presigned download URL (the bucket itself is private), announced by a DOWNLOADED event.
    Only clean files are handed out."""
    from file_pipeline.cli.runtime import open_resources
    from file_pipeline.upload.access import FileAccessError, record_download

    if not 1 <= expires <= 7 * 24 * 3600:
        fail("--expires must be between 1 second and 7 days")
    with open_resources() as resources:
        try:
            key, _ = record_download(resources.postgres, file_id, resources.kafka.file_events_topic)
        except FileAccessError as exc:
            fail(str(exc))
        _relay_events(resources)
        click.echo(resources.storage.presigned_url(key, expires))


@files.command("share")
@click.argument("file_id")
@click.option("--with", "shared_with", required=True, help="User the file is shared with.")
def files_share(file_id: str, shared_with: str) -> None:
    """Share a clean file with another user, announced by a SHARED event (once per user)."""
    from file_pipeline.cli.runtime import open_resources
    from file_pipeline.upload.access import FileAccessError, record_share

    with open_resources() as resources:
        try:
            event = record_share(
                resources.postgres, file_id, shared_with, resources.kafka.file_events_topic
            )
        except FileAccessError as exc:
            fail(str(exc))
        if event is None:
            click.echo(f"{file_id} is already shared with {shared_with}")
            return
        _relay_events(resources)
        click.echo(f"{file_id} shared with {shared_with} (event {event.event_id})")


def _relay_events(resources: Any) -> None:
    """Send what was just written to the outbox; if Kafka is out, the relay sensor sends it."""
    import logging

    from file_pipeline.upload.outbox import relay_outbox

    result = relay_outbox(resources.postgres, resources.kafka, logging.getLogger("file_pipeline"))
    if result.errors:
        click.echo(f"event left in the outbox for the relay: {result.errors[0]}", err=True)


@files.command("delete")
@click.argument("file_ids", nargs=-1, required=True)
def files_delete(file_ids: tuple[str, ...]) -> None:
    """Delete files by launching the `delete_files` job. Deleting twice is harmless."""
    from file_pipeline.cli import runtime

    result = runtime.run_delete(list(file_ids), runtime.get_instance())
    if not result.success:
        print_run_failure(result)
        sys.exit(1)
    metadata = materialization_metadata(result, "deleted_files")
    click.echo(
        f"run {result.run_id}: {metadata['deleted']} deleted, "
        f"{metadata['already_deleted']} already deleted, {metadata['missing']} not found"
    )
    for file_id in metadata.get("missing_ids") or []:
        click.secho(f"  no file with id {file_id}", fg="red", err=True)
    if metadata.get("missing"):
        sys.exit(1)


@click.command()
@click.argument("query")
@click.option("--user", "uploaded_by", default=None, help="Only this user's files.")
@click.option("--limit", default=20, show_default=True)
def search(query: str, uploaded_by: str | None, limit: int) -> None:
    """Full-text search over filenames and extracted text, best match first."""
    from file_pipeline.cli.runtime import open_resources
    from file_pipeline.db import files as file_rows

    with open_resources() as resources, resources.postgres.connection() as conn:
        hits = file_rows.search(conn, query, uploaded_by, limit)
    for hit in hits:
        snippet = " ".join((hit["snippet"] or "").split())
        click.echo(
            f"{hit['rank']:.3f}  {hit['file_id']}  {hit['uploaded_by']:<12} {hit['filename']}"
        )
        if snippet:
            click.echo(f"       {snippet}")
    if not hits:
        click.echo("no matches")
