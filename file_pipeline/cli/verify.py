"""`file-pipeline verify`: do PostgreSQL, the bucket and Kafka agree? Lists each violation and
exits 1 while any remain; `--repair` fixes the safe ones and says what it did."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from file_pipeline.analytics.verify import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_MAX_LAG,
    DEFAULT_OUTBOX_MINUTES,
)

if TYPE_CHECKING:
    from file_pipeline.analytics.verify import RepairReport, VerifyReport, Violation


@click.command()
@click.option("--deep", is_flag=True, help="Also stream every blob and compare its sha256.")
@click.option(
    "--repair",
    is_flag=True,
    help="Fix the safe violations: re-drive processing of missing renditions and index "
    "entries, remove outputs of deleted files and orphans past the grace period.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for scripts.")
@click.option(
    "--grace-seconds",
    type=click.IntRange(min=0),
    default=DEFAULT_GRACE_SECONDS,
    show_default=True,
    help="Objects without a row, and files without outcomes, younger than this may be in flight.",
)
@click.option(
    "--max-lag",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_LAG,
    show_default=True,
    help="Events the sensor may be behind the topic.",
)
def verify(deep: bool, repair: bool, as_json: bool, grace_seconds: int, max_lag: int) -> None:
    """Check that PostgreSQL, the bucket and Kafka agree: blobs, renditions, index entries, no
    remains of deleted files, no orphan objects, the outbox drained, the consumer lag bounded."""
    from file_pipeline.analytics import verify as checks
    from file_pipeline.cli.runtime import get_instance, open_resources

    cursor = checks.sensor_cursor(get_instance())
    with open_resources() as resources:
        reading = checks.read_consumer_lag(resources.kafka, cursor)
        report = checks.verify(
            resources.storage,
            resources.postgres,
            configured_renditions={spec.name for spec in resources.processing.rendition_specs()},
            deep=deep,
            grace_seconds=grace_seconds,
            lag=reading.lag,
            max_lag=max_lag,
            outbox_minutes=DEFAULT_OUTBOX_MINUTES,
            lag_error=reading.error,
            topic=resources.kafka.file_events_topic,
        )
        repaired = None
        if repair:
            repaired = checks.repair(
                resources.storage,
                resources.postgres,
                report,
                grace_seconds=grace_seconds,
                versions=resources.processing.current_versions(None),
            )
    remaining = repaired.remaining if repaired is not None else report.violations
    if as_json:
        document = {
            **report.to_dict(),
            "repair": repaired.to_dict() if repaired is not None else None,
            "remaining": len(remaining),
        }
        click.echo(json.dumps(document, indent=2, default=str))
    else:
        print_report(report)
        if repaired is not None:
            print_repair(repaired)
        plural = "violation" if len(remaining) == 1 else "violations"
        verb = (" remains" if len(remaining) == 1 else " remain") if repaired is not None else ""
        summary = f"{len(remaining)} {plural}{verb}"
        click.secho(summary if remaining else "all checks passed", fg="red" if remaining else None)
    sys.exit(1 if remaining else 0)


def _line(violation: Violation) -> str:
    how = "" if violation.repairable else "  [not repairable]"
    return f"  {violation.check:<28} {violation.subject}  {violation.detail}{how}"


def print_report(report: VerifyReport) -> None:
    click.secho(f"{'check':<28} {'checked':>9} {'violations':>11}", bold=True)
    for name, checked in report.checked.items():
        note = report.notes.get(name)
        click.echo(
            f"{name:<28} {checked:>9} {len(report.of(name)):>11}" + (f"  ({note})" if note else "")
        )
    if report.violations:
        click.secho("violations", bold=True)
        for violation in report.violations:
            click.echo(_line(violation))


def print_repair(repaired: RepairReport) -> None:
    click.secho("repair", bold=True)
    if repaired.reprocess_request_id is not None:
        click.echo(
            f"  requested reprocess {repaired.reprocess_request_id} of "
            f"{len(repaired.reprocessed_files)} files in stages "
            f"{', '.join(repaired.reprocess_stages)} (source verify; reprocess_sensor runs it)"
        )
    for reason, count in repaired.left_alone.items():
        click.echo(f"  left alone: {count} files ({reason})")
    if repaired.removed_output_rows:
        click.echo(f"  removed {repaired.removed_output_rows} output rows of deleted files")
    for key in repaired.removed_objects:
        click.echo(f"  removed {key}")
    for violation in repaired.remaining:
        reason = "not repairable" if not violation.repairable else "not repaired"
        click.echo(f"  {reason}: {violation.check} {violation.subject}  {violation.detail}")
