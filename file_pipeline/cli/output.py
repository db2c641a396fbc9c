"""How the CLI reports: errors to stderr with exit code 1, and run results."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click


def fail(message: str, code: int = 1) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def materialization_metadata(result: Any, node: str) -> dict[str, Any]:
    """The metadata of a run's latest materialization of `node`, as plain values."""
    metadata: dict[str, Any] = {}
    for mat in result.asset_materializations_for_node(node):
        metadata = {k: v.value for k, v in mat.metadata.items()}
    return metadata


def print_run_failure(result: Any) -> None:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            click.secho(f"{event.step_key}: {event.step_failure_data.error.message}", fg="red")
    click.secho(f"run {result.run_id} failed", fg="red", err=True)
