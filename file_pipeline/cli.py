"""`file-pipeline`: the local stack, uploads, the demo and statistics from the terminal."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from file_pipeline import settings


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """Event-driven file pipeline on Dagster: MinIO/S3, PostgreSQL, Kafka, ClamAV."""


@main.group()
def stack() -> None:
    """Install and run the local services (PostgreSQL, Kafka, MinIO, ClamAV) on loopback."""


def _print_status(statuses: list[Any]) -> None:
    for s in statuses:
        state = (
            click.style("running", fg="green") if s.running else click.style("stopped", fg="red")
        )
        pid = f"pid {s.pid}" if s.pid else ""
        click.echo(f"{s.name:<9} {state:<18} {s.address:<16} {pid:<10} {s.detail}")


@stack.command("up")
@click.argument("services", nargs=-1)
def stack_up(services: tuple[str, ...]) -> None:
    """Start the services (installing what is missing). Idempotent."""
    from file_pipeline import stack as local_stack

    started = time.monotonic()
    try:
        statuses = local_stack.up(list(services) or None, echo=click.echo)
    except local_stack.StackError as exc:
        _fail(str(exc))
    _print_status(statuses)
    click.echo(f"stack up in {time.monotonic() - started:.1f}s")


@stack.command("down")
@click.argument("services", nargs=-1)
def stack_down(services: tuple[str, ...]) -> None:
    """Stop the services `up` started. Data is kept."""
    from file_pipeline import stack as local_stack

    _print_status(local_stack.down(list(services) or None, echo=click.echo))


@stack.command("status")
def stack_status() -> None:
    """What runs where."""
    from file_pipeline import stack as local_stack

    statuses = local_stack.status()
    _print_status(statuses)
    if not all(s.running for s in statuses):
        sys.exit(3)


@stack.command("env")
def stack_env() -> None:
    """Print `export` lines for the running stack: eval "$(file-pipeline stack env)"."""
    from file_pipeline import stack as local_stack

    click.echo(local_stack.env_exports())


@main.group()
def db() -> None:
    """Application database."""


@db.command("migrate")
def db_migrate() -> None:
    """Apply schema migrations, and create the bucket and topics if missing."""
    from file_pipeline.runtime import prepare_services

    done = prepare_services()
    click.echo(f"migrations applied: {', '.join(done['migrations']) or 'none (up to date)'}")
    click.echo(f"topics created: {', '.join(done['topics']) or 'none (they exist)'}")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--user", "uploaded_by", required=True, help="User the files belong to.")
@click.option("--description", default=None, help="Description stored with every file.")
def upload(paths: tuple[str, ...], uploaded_by: str, description: str | None) -> None:
    """Upload files, directories or globs by launching the `upload_files` job."""
    from file_pipeline import progress, runtime

    instance = runtime.get_instance()
    with click.progressbar(length=0, label="uploading", show_pos=True) as bar:

        def advance(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        with progress.listening(advance):
            result = runtime.run_upload(list(paths), uploaded_by, description, instance)
    metadata = _report_upload(result)
    if not result.success or metadata.get("rejected", 0):
        sys.exit(1)


def _report_upload(result: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for mat in result.asset_materializations_for_node("uploaded_files"):
        metadata = {k: v.value for k, v in mat.metadata.items()}
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
                click.secho(f"{event.step_key}: {event.step_failure_data.error.message}", fg="red")
        click.secho(f"upload run {result.run_id} failed", fg="red", err=True)
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


@main.group()
def files() -> None:
    """List, inspect, download and delete stored files."""


@files.command("list")
@click.option("--user", "uploaded_by", default=None, help="Only this user's files.")
@click.option("--limit", default=50, show_default=True)
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted files.")
def files_list(uploaded_by: str | None, limit: int, include_deleted: bool) -> None:
    """Newest first."""
    from file_pipeline.db import queries
    from file_pipeline.runtime import build_resources

    _, postgres, _ = build_resources()
    with postgres.connection() as conn:
        rows = queries.list_files(conn, uploaded_by, limit, include_deleted)
    for row in rows:
        click.echo(
            f"{row['id']}  {row['status']:<8} {row['uploaded_by']:<12} "
            f"{row['content_type'] or '?':<24} {row['file_size']:>10}  {row['filename']}"
        )
    if not rows:
        click.echo("no files")


@files.command("show")
@click.argument("file_id")
def files_show(file_id: str) -> None:
    """Everything about one file: row, blob, events, processing outcomes, runs."""
    from file_pipeline.db import queries
    from file_pipeline.runtime import build_resources

    storage, postgres, _ = build_resources()
    with postgres.connection() as conn:
        row = queries.get_file(conn, file_id)
        if row is None:
            _fail(f"no file with id {file_id}")
        history = queries.file_history(conn, file_id)
    for key, value in row.items():
        click.echo(f"{key:<14} {value}")
    blob = "present" if storage.exists(row["s3_key"]) else "missing"
    click.echo(f"{'blob':<14} {blob} (s3://{storage.bucket}/{row['s3_key']})")
    click.secho("events", bold=True)
    for event in history["events"]:
        where = (
            f"partition {event['kafka_partition']} offset {event['kafka_offset']}"
            if event["sent_at"]
            else f"unsent ({event['attempts']} attempts) {event['last_error'] or ''}"
        )
        click.echo(f"  {event['event_type']:<8} {event['event_id']}  {where}")
    click.secho("processing", bold=True)
    for result in history["results"]:
        click.echo(
            f"  {result['step']:<16} {result['outcome']:<8} {result['detail'] or ''}"
            f"  (run {result['processing_run_id']}, event {result['source_event']})"
        )
    if not history["results"]:
        click.echo("  not processed yet")


@files.command("url")
@click.argument("file_id")
@click.option("--expires", default=3600, show_default=True, help="Seconds the URL stays valid.")
def files_url(file_id: str, expires: int) -> None:
    """A presigned download URL (the bucket itself is private)."""
    from file_pipeline.db import queries
    from file_pipeline.runtime import build_resources

    if not 1 <= expires <= 7 * 24 * 3600:
        _fail("--expires must be between 1 second and 7 days")
    storage, postgres, _ = build_resources()
    with postgres.connection() as conn:
        row = queries.get_file(conn, file_id)
    if row is None or row["deleted_at"] is not None:
        _fail(f"no live file with id {file_id}")
    click.echo(storage.presigned_url(row["s3_key"], expires))


@files.command("delete")
@click.argument("file_ids", nargs=-1, required=True)
def files_delete(file_ids: tuple[str, ...]) -> None:
    """Delete files by launching the `delete_files` job. Deleting twice is harmless."""
    from file_pipeline import runtime

    result = runtime.run_delete(list(file_ids), runtime.get_instance())
    metadata: dict[str, Any] = {}
    for mat in result.asset_materializations_for_node("deleted_files"):
        metadata = {k: v.value for k, v in mat.metadata.items()}
    if not result.success:
        _fail(f"delete run {result.run_id} failed")
    click.echo(
        f"run {result.run_id}: {metadata['deleted']} deleted, "
        f"{metadata['already_deleted']} already deleted, {metadata['missing']} not found"
    )
    for file_id in metadata.get("missing_ids") or []:
        click.secho(f"  no file with id {file_id}", fg="red", err=True)
    if metadata.get("missing"):
        sys.exit(1)


@main.command()
@click.argument("query")
@click.option("--user", "uploaded_by", default=None, help="Only this user's files.")
@click.option("--limit", default=20, show_default=True)
def search(query: str, uploaded_by: str | None, limit: int) -> None:
    """Full-text search over filenames and extracted text, best match first."""
    from file_pipeline.db import queries
    from file_pipeline.runtime import build_resources

    _, postgres, _ = build_resources()
    with postgres.connection() as conn:
        hits = queries.search(conn, query, uploaded_by, limit)
    for hit in hits:
        snippet = " ".join((hit["snippet"] or "").split())
        click.echo(
            f"{hit['rank']:.3f}  {hit['file_id']}  {hit['uploaded_by']:<12} {hit['filename']}"
        )
        if snippet:
            click.echo(f"       {snippet}")
    if not hits:
        click.echo("no matches")


@main.command()
def stats() -> None:
    """Print file statistics (the same numbers as the `file_statistics` asset)."""
    from file_pipeline.runtime import build_resources

    _, postgres, kafka = build_resources()
    _print_stats(postgres, kafka)


def _print_stats(postgres: Any, kafka: Any) -> None:
    from file_pipeline.statistics import compute_statistics

    with postgres.connection() as conn:
        stats = compute_statistics(conn, kafka)

    def seconds(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}s"

    click.secho("STATISTICS", bold=True)
    click.echo(f"  files stored        {stats.files}")
    click.echo(f"  bytes stored        {stats.bytes}")
    click.echo(f"  users               {stats.users}")
    click.echo("  by status           " + ", ".join(f"{k}={v}" for k, v in stats.by_status.items()))
    click.echo(
        f"  upload -> processed p50 {seconds(stats.latency_p50_seconds)}, "
        f"p95 {seconds(stats.latency_p95_seconds)}"
    )
    click.echo(f"  events sent         {stats.events_sent} (unsent {stats.events_unsent})")
    dlq = "unknown (Kafka unavailable)" if stats.dlq_messages is None else stats.dlq_messages
    click.echo(f"  dead letters        {dlq}")
    click.echo(
        f"  outputs             {stats.exif_rows} EXIF rows, {stats.thumbnails} thumbnails, "
        f"{stats.indexed_files} indexed files, {stats.notifications} notifications"
    )
    click.echo("  by content type")
    for row in stats.by_content_type.itertuples(index=False):
        click.echo(f"    {row.content_type:<28} {row.files:>6} files {row.bytes:>14} bytes")
    click.echo("  by user")
    for row in stats.by_user.itertuples(index=False):
        click.echo(f"    {row.uploaded_by:<28} {row.files:>6} files {row.bytes:>14} bytes")


@main.command()
@click.option("--timeout", default=180, show_default=True, help="Seconds to wait for processing.")
def demo(timeout: int) -> None:
    """The seed's demo, for real: sample files uploaded, processed by the sensor, statistics."""
    from file_pipeline import runtime
    from file_pipeline import stack as local_stack
    from file_pipeline.db import queries

    started = time.monotonic()
    click.secho("1. local stack", bold=True)
    try:
        local_stack.up(echo=click.echo)
    except local_stack.StackError as exc:
        _fail(str(exc))
    runtime.apply_env_defaults()
    runtime.prepare_services()
    instance = runtime.get_instance()

    samples = Path(__file__).resolve().parent / "samples"
    click.secho(f"2. upload_files job: {samples}", bold=True)
    # A user per demo run: identical bytes by the same user would resolve to the earlier files.
    user = time.strftime("demo-%Y%m%d-%H%M%S")
    result = runtime.run_upload([str(samples)], user, "demo upload", instance)
    metadata = _report_upload(result)
    if not result.success:
        sys.exit(1)
    file_ids = [r.data["id"] for r in metadata["file_table"].records]

    click.secho("3. dagster-daemon: file_events_sensor launches processing runs", bold=True)
    _, postgres, kafka = runtime.build_resources()
    log_path = Path(os.environ["DAGSTER_HOME"]) / "logs" / "demo-daemon.log"
    with runtime.dagster_daemon(log_path) as daemon:
        outcomes = runtime.wait_for_results(
            postgres, file_ids, "notifications", timeout, daemon=daemon
        )
    click.secho("4. per-file outcomes", bold=True)
    with postgres.connection() as conn:
        rows = queries.get_files(conn, file_ids)
        for file_id in file_ids:
            row = rows[file_id]
            click.secho(f"  {row['filename']}  [{row['status']}]", bold=True)
            steps = conn.execute(
                "SELECT step, outcome, detail FROM processing_results WHERE file_id = %s"
                " ORDER BY array_position(%s::text[], step)",
                (file_id, list(runtime.STEP_ORDER)),
            ).fetchall()
            for step, outcome, detail in steps:
                click.echo(f"    {step:<14} {outcome:<8} {detail or ''}")
            if file_id not in outcomes:
                click.echo(f"    not processed within {timeout}s (daemon log: {log_path})")
    _print_stats(postgres, kafka)
    click.echo(f"demo finished in {time.monotonic() - started:.1f}s")
    if len(outcomes) != len(file_ids):
        _fail(f"{len(file_ids) - len(outcomes)} files were not processed within {timeout}s")


@main.command()
@click.option("--port", default=3000, show_default=True)
def ui(port: int) -> None:
    """Run `dagster dev` (webserver + daemon) with the stack's environment."""
    from file_pipeline import runtime

    runtime.apply_env_defaults()
    dagster = Path(sys.executable).with_name("dagster")
    os.execv(
        str(dagster),
        [str(dagster), "dev", "-w", str(runtime.PROJECT_ROOT / "workspace.yaml"), "-p", str(port)],
    )


@main.command("env-vars")
def env_vars() -> None:
    """List every configuration variable with its default."""
    for var in settings.ALL_ENV_VARS:
        click.echo(f"{var.name:<24} {var.default:<58} {var.description}")


if __name__ == "__main__":
    main()
