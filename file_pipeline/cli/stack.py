"""`file-pipeline stack …` and `file-pipeline db migrate`: the local services and deploy-time
setup (migrations, bucket, topics)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from file_pipeline.cli.output import fail


@click.group()
def stack() -> None:
    """Install and run the local services (PostgreSQL and PgBouncer, Kafka, MinIO, ClamAV)."""


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
    """Start the services (installing what is missing), then apply migrations and create the
    bucket and topics. Idempotent: running it again completes a setup that failed part-way."""
    from file_pipeline import stack as local_stack
    from file_pipeline.cli.runtime import prepare_services

    started = time.monotonic()
    try:
        statuses = local_stack.up(list(services) or None, echo=click.echo)
    except local_stack.StackError as exc:
        fail(str(exc))
    _print_status(statuses)
    if not services:
        _report_prepared(prepare_services())
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


@click.group()
def db() -> None:
    """Application database."""


@db.command("migrate")
def db_migrate() -> None:
    """Apply schema migrations, and create the bucket and topics if missing."""
    from file_pipeline.cli.runtime import prepare_services

    _report_prepared(prepare_services())


def _report_prepared(done: dict[str, list[str]]) -> None:
    click.echo(f"migrations applied: {', '.join(done['migrations']) or 'none (up to date)'}")
    click.echo(f"topics created: {', '.join(done['topics']) or 'none (they exist)'}")
    click.echo(f"concurrency pools: {', '.join(done['pools']) or 'none'}")
