"""`file-pipeline status` and `file-pipeline reprocess`: where every file stands in every stage,
and redoing exactly what you mean (the same `reprocess_files` job as the Launchpad's)."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any

import click

from file_pipeline.cli.output import fail, materialization_metadata, print_run_failure
from file_pipeline.processing.reprocess import Selection
from file_pipeline.states import Stage

STATE_COLUMNS = ("done", "partial", "stale", "failed", "skipped", "missing")


def gather_status() -> dict[str, Any]:
    """Every number `status` prints: per-stage states, top failures, lag, backlogs."""
    from file_pipeline.analytics.stage_status import stage_status
    from file_pipeline.cli.runtime import get_instance, open_resources
    from file_pipeline.defs.processing.reprocess import current_versions

    with open_resources() as resources:
        versions = current_versions(resources.processing, resources.clamav)
        report = stage_status(resources.postgres, resources.kafka, versions)
    report["consumer_lag"] = consumer_lag(get_instance())
    return report


def consumer_lag(instance: Any) -> int | None:
    from file_pipeline.defs.analytics.assets import latest_consumer_lag

    return latest_consumer_lag(instance)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for scripts.")
def status(as_json: bool) -> None:
    """Per stage: done, stale, failed, skipped, missing; top failure reasons; consumer lag,
    outbox backlog and dead letters."""
    report = gather_status()
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    click.secho(f"{'stage':<16}" + "".join(f"{c:>9}" for c in STATE_COLUMNS), bold=True)
    for stage, counts in report["stages"].items():
        click.echo(f"{stage:<16}" + "".join(f"{counts[c]:>9}" for c in STATE_COLUMNS))
    click.secho("top failure reasons", bold=True)
    for failure in report["top_failures"]:
        click.echo(
            f"  {failure['files']:>6} files  {failure['stage']:<14} "
            f"{failure['error_type'] or '':<24} {failure['reason']}"
        )
    if not report["top_failures"]:
        click.echo("  none")
    lag = report["consumer_lag"]
    if lag is None:
        click.echo("consumer lag        unknown (no sensor tick has read the topic yet)")
    else:
        click.echo(f"consumer lag        {lag} events")
    backlog = report["outbox"]
    oldest = f", oldest from {backlog['oldest']}" if backlog["unsent"] else ""
    click.echo(f"outbox backlog      {backlog['unsent']} unsent{oldest}")
    dead = report["dead_letters"]
    if dead is None:
        click.echo("dead letters        unknown (Kafka unavailable)")
    else:
        click.echo(f"dead letters        {dead['total']}")
        for kind, count in dead["by_reason"].items():
            click.echo(f"  {count:>6}  {kind}")
    click.echo(f"stage versions      {json.dumps(report['versions'])}")


@click.command()
@click.option("--failed", "selection", flag_value="failed", help="Files a stage failed for.")
@click.option("--missing", "selection", flag_value="missing", help="Stages never done.")
@click.option("--stale", "selection", flag_value="stale", help="Outputs of an older version.")
@click.option("--all", "selection", flag_value="all", help="Every live file.")
@click.option("--id", "file_ids", multiple=True, help="A file to reprocess (repeatable).")
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice([s.value for s in Stage]),
    help="A stage to redo (repeatable; default: all). What depends on it is redone too.",
)
@click.option("--user", "uploaded_by", default=None, help="Only this user's files.")
@click.option("--since", default=None, help="Only files uploaded at or after (ISO date/time).")
@click.option("--until", default=None, help="Only files uploaded before (ISO date/time).")
@click.option("--force", is_flag=True, help="Redo outputs that are already current.")
@click.option("--batch-size", default=200, show_default=True, help="Files per processing run.")
@click.option(
    "--wait",
    "wait_seconds",
    type=int,
    default=None,
    help="Wait up to this many seconds for the batches' runs (the daemon launches them).",
)
def reprocess(
    selection: str | None,
    file_ids: tuple[str, ...],
    stages: tuple[str, ...],
    uploaded_by: str | None,
    since: str | None,
    until: str | None,
    force: bool,
    batch_size: int,
    wait_seconds: int | None,
) -> None:
    """Reprocess exactly what you mean, by launching the `reprocess_files` job."""
    from file_pipeline.cli import runtime

    if file_ids and selection:
        fail("give either --id or one of --failed/--missing/--stale/--all")
    chosen = "ids" if file_ids else selection
    if chosen is None:
        fail("say what to reprocess: --failed, --missing, --stale, --all or --id ID")
    for moment in (since, until):
        if moment:
            try:
                datetime.fromisoformat(moment)
            except ValueError:
                fail(f"{moment!r} is not an ISO date or date/time")
    config = {
        "stages": list(stages) or [s.value for s in Stage],
        "selection": Selection(chosen).name,
        "file_ids": list(file_ids),
        "uploaded_by": uploaded_by,
        "uploaded_after": since,
        "uploaded_before": until,
        "force": force,
        "batch_size": batch_size,
    }
    instance = runtime.get_instance()
    result = runtime.run_job(
        "reprocess_files", {"ops": {"plan_reprocessing": {"config": config}}}, instance
    )
    if not result.success:
        print_run_failure(result)
        sys.exit(1)
    metadata = _plan_metadata(result)
    click.echo(
        f"run {result.run_id}: {metadata['files']} files to reprocess in stages "
        f"{', '.join(metadata['stages'])} (request {metadata['request_id']})"
    )
    for reason, count in metadata["left_alone"].items():
        click.echo(f"  left alone: {count} files ({reason})")
    if wait_seconds and metadata["request_id"] != "none":
        batches = -(-int(metadata["files"]) // max(1, batch_size))
        _wait_for_request(instance, int(metadata["request_id"]), batches, wait_seconds)


def _plan_metadata(result: Any) -> dict[str, Any]:
    for event in result.all_events:
        if event.is_successful_output and event.step_key == "plan_reprocessing":
            data = event.event_specific_data
            return {k: v.value for k, v in data.metadata.items()}
    return materialization_metadata(result, "plan_reprocessing")


def _wait_for_request(instance: Any, request_id: int, batches: int, timeout: float) -> None:
    """Wait until a run of every batch finished (retries included)."""
    import dagster as dg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = instance.get_runs(
            dg.RunsFilter(tags={"file_pipeline/reprocess_request": str(request_id)})
        )
        launched = {run.tags.get("file_pipeline/reprocess_batch") for run in runs}
        if len(launched) >= batches and all(run.is_finished for run in runs):
            failed = [run.run_id for run in runs if run.status != dg.DagsterRunStatus.SUCCESS]
            plural = "run" if len(runs) == 1 else "runs"
            click.echo(f"request {request_id}: {len(runs)} {plural} finished, {len(failed)} failed")
            if failed:
                sys.exit(1)
            return
        time.sleep(2)
    fail(f"request {request_id} did not finish within {timeout:.0f} s (is the daemon running?)")
