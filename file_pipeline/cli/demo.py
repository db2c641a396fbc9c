"""`file-pipeline demo`, `ui` and `env-vars`: the seed's demo for real, the UI, the settings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from file_pipeline import settings
from file_pipeline.cli.files import report_upload
from file_pipeline.cli.output import fail
from file_pipeline.cli.stats import print_statistics

if TYPE_CHECKING:
    from file_pipeline.resources import PostgresResource

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@click.command()
@click.option("--timeout", default=180, show_default=True, help="Seconds to wait for processing.")
def demo(timeout: int) -> None:
    """The seed's demo, for real: sample files uploaded, processed by the sensor, statistics."""
    from file_pipeline import stack as local_stack
    from file_pipeline.cli import runtime
    from file_pipeline.db import files, outputs

    started = time.monotonic()
    click.secho("1. local stack", bold=True)
    try:
        local_stack.up(echo=click.echo)
    except local_stack.StackError as exc:
        fail(str(exc))
    runtime.prepare_services()
    instance = runtime.get_instance()

    click.secho(f"2. upload_files job: {SAMPLES}", bold=True)
    # A user per demo run: identical bytes by the same user would resolve to the earlier files.
    user = time.strftime("demo-%Y%m%d-%H%M%S")
    result = runtime.run_upload([str(SAMPLES)], user, "demo upload", instance)
    metadata = report_upload(result)
    if not result.success:
        sys.exit(1)
    file_ids = [r.data["id"] for r in metadata["file_table"].records]

    click.secho("3. dagster-daemon: file_events_sensor launches processing runs", bold=True)
    log_path = Path(os.environ["DAGSTER_HOME"]) / "logs" / "demo-daemon.log"
    with runtime.open_resources() as resources:
        postgres, kafka = resources.postgres, resources.kafka
        with runtime.dagster_daemon(log_path) as daemon:
            processed = _wait_until_processed(postgres, file_ids, timeout, daemon)
        click.secho("4. per-file outcomes", bold=True)
        with postgres.connection() as conn:
            rows = files.get_files(conn, file_ids)
            for file_id in file_ids:
                row = rows[file_id]
                click.secho(f"  {row['filename']}  [{row['status']}]", bold=True)
                for result_row in outputs.file_results(conn, file_id):
                    click.echo(
                        f"    {result_row['stage']:<14} {result_row['outcome']:<8} "
                        f"{result_row['detail'] or ''}"
                    )
                if file_id not in processed:
                    click.echo(f"    not processed within {timeout}s (daemon log: {log_path})")
        print_statistics(postgres, kafka)
    click.echo(f"demo finished in {time.monotonic() - started:.1f}s")
    if len(processed) != len(file_ids):
        fail(f"{len(file_ids) - len(processed)} files were not processed within {timeout}s")


def _wait_until_processed(
    postgres: PostgresResource,
    file_ids: list[str],
    timeout: float,
    daemon: subprocess.Popen[bytes],
) -> set[str]:
    """Poll until every file reached its final state; returns those that did."""
    from file_pipeline.db import files

    deadline = time.monotonic() + timeout
    done: set[str] = set()
    while time.monotonic() < deadline:
        with postgres.connection() as conn:
            done = files.processed_ids(conn, file_ids)
        if len(done) == len(file_ids):
            break
        if daemon.poll() is not None:
            fail(f"dagster-daemon exited with code {daemon.returncode}")
        time.sleep(1)
    return done


@click.command()
@click.option("--port", default=3000, show_default=True)
def ui(port: int) -> None:
    """Run `dagster dev` (webserver + daemon) with the stack's environment."""
    from file_pipeline.cli import runtime

    runtime.apply_env_defaults()
    dagster = Path(sys.executable).with_name("dagster")
    os.execv(
        str(dagster),
        [str(dagster), "dev", "-w", str(runtime.PROJECT_ROOT / "workspace.yaml"), "-p", str(port)],
    )


@click.command("env-vars")
def env_vars() -> None:
    """List every configuration variable with its default."""
    for var in settings.ALL_ENV_VARS:
        click.echo(f"{var.name:<26} {var.default:<58} {var.description}")
