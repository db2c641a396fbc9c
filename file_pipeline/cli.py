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
    from file_pipeline import runtime

    instance = runtime.get_instance()
    result = runtime.run_upload(list(paths), uploaded_by, description, instance)
    _report_upload(result)
    if not result.success:
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
    return metadata


@main.command()
def stats() -> None:
    """Print file statistics."""
    from file_pipeline.db import queries
    from file_pipeline.runtime import build_resources

    _, postgres, _ = build_resources()
    with postgres.connection() as conn:
        _print_stats(queries.file_statistics(conn))


def _print_stats(stats: dict[str, Any]) -> None:
    totals = stats["totals"]
    click.secho("STATISTICS", bold=True)
    click.echo(f"  files stored      {totals['files']}")
    click.echo(f"  bytes stored      {totals['bytes']}")
    click.echo(f"  users             {totals['users']}")
    click.echo(
        f"  events sent       {stats['events']['sent']} (unsent {stats['events']['unsent']})"
    )
    click.echo(f"  EXIF rows         {stats['exif_rows']}")
    click.echo(
        "  by status         "
        + ", ".join(f"{r['status']}={r['files']}" for r in stats["by_status"])
    )
    click.echo("  by content type")
    for row in stats["by_content_type"]:
        click.echo(
            f"    {row['content_type']:<28} {row['files']:>5} files {row['bytes']:>12} bytes"
        )


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
    result = runtime.run_upload([str(samples)], "alice", "demo upload", instance)
    metadata = _report_upload(result)
    if not result.success:
        sys.exit(1)
    file_ids = [r.data["id"] for r in metadata["file_table"].records]

    click.secho("3. dagster-daemon: file_events_sensor launches processing runs", bold=True)
    _, postgres, _ = runtime.build_resources()
    log_path = Path(os.environ["DAGSTER_HOME"]) / "logs" / "demo-daemon.log"
    with runtime.dagster_daemon(log_path) as daemon:
        outcomes = runtime.wait_for_results(
            postgres, file_ids, "exif_metadata", timeout, daemon=daemon
        )
    click.secho("4. per-file outcomes (exif_metadata)", bold=True)
    with postgres.connection() as conn:
        rows = queries.get_files(conn, file_ids)
    for file_id in file_ids:
        outcome, detail = outcomes.get(file_id, ("not processed", f"daemon log: {log_path}"))
        click.echo(f"  {rows[file_id]['filename']:<24} {outcome:<14} {detail or ''}")
    with postgres.connection() as conn:
        _print_stats(queries.file_statistics(conn))
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
