"""`file-pipeline stats`: the numbers the `file_statistics` asset records."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from file_pipeline.resources import KafkaResource, PostgresResource


@click.command()
def stats() -> None:
    """Print file statistics (the same numbers as the `file_statistics` asset)."""
    from file_pipeline.cli.runtime import open_resources

    with open_resources() as resources:
        print_statistics(resources.postgres, resources.kafka)


def print_statistics(postgres: PostgresResource, kafka: KafkaResource) -> None:
    from file_pipeline.analytics.statistics import compute_statistics

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
    click.echo(f"  downloads, shares   {stats.downloads}, {stats.shares}")
    kinds = ", ".join(f"{k}={v}" for k, v in stats.sensitive_data_by_kind.items())
    click.echo(
        f"  sensitive data      {stats.files_with_sensitive_data} files"
        + (f" ({kinds})" if kinds else "")
    )
    click.echo("  by content type")
    for row in stats.by_content_type.itertuples(index=False):
        click.echo(f"    {row.content_type:<28} {row.files:>6} files {row.bytes:>14} bytes")
    click.echo("  by user")
    for row in stats.by_user.itertuples(index=False):
        click.echo(f"    {row.uploaded_by:<28} {row.files:>6} files {row.bytes:>14} bytes")
