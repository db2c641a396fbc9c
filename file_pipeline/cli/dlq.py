"""`file-pipeline dlq list|show|replay`: the dead-letter topic of `file-events`, read and acted on.

The selection and the replay are those of the `replay_dead_letters` job in the Dagster UI (same
option names, same meaning): both call `file_pipeline.events.dead_letters`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

from file_pipeline.cli.output import fail
from file_pipeline.errors import FilePipelineError
from file_pipeline.events.dead_letters import DEFAULT_REPLAY_LIMIT

if TYPE_CHECKING:
    from file_pipeline.events.dead_letters import DeadLetter
    from file_pipeline.resources import KafkaResource

SHOWN_BYTES = 2000
"""How much of a value that is not JSON `dlq show` prints."""


@contextmanager
def _kafka() -> Iterator[KafkaResource]:
    """The configured Kafka resource; a Kafka or topic error ends the command with its message."""
    from file_pipeline.cli.runtime import open_resources

    try:
        with open_resources() as resources:
            yield resources.kafka
    except FilePipelineError as exc:
        fail(str(exc))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _as_dict(letter: DeadLetter) -> dict[str, Any]:
    return {
        "partition": letter.partition,
        "offset": letter.offset,
        "key": None if letter.key is None else letter.key_text(),
        "reason": letter.reason,
        "reason_kind": letter.reason_kind,
        "source_topic": letter.source_topic,
        "source_partition": letter.source_partition,
        "source_offset": letter.source_offset,
        "stage": letter.stage,
        "replay_count": letter.replay_count,
        "timestamp_ms": letter.timestamp_ms,
        "value_bytes": None if letter.value is None else len(letter.value),
    }


def _parse_offsets(text: str) -> list[int]:
    try:
        offsets = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a comma-separated list of offsets", param_hint="--offsets"
        ) from None
    if not offsets or min(offsets) < 0:
        raise click.BadParameter("give offsets >= 0, e.g. 3,7,9", param_hint="--offsets")
    return offsets


def _missing(wanted: Collection[int] | None, letters: list[DeadLetter]) -> list[int]:
    found = {letter.offset for letter in letters}
    return sorted(set(wanted or ()) - found)


@click.group()
def dlq() -> None:
    """Dead letters of `file-events`: list them, show one, replay them."""


@dlq.command("list")
@click.option(
    "--reason", default=None, help="Only letters whose reason contains this (case-insensitive)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array instead.")
def dlq_list(reason: str | None, as_json: bool) -> None:
    """Every dead letter, oldest first: offset, replay count, reason, source, key."""
    from file_pipeline.events.dead_letters import read_dead_letters

    with _kafka() as kafka:
        letters = read_dead_letters(kafka, reason=reason)
    if as_json:
        click.echo(json.dumps([_as_dict(letter) for letter in letters], indent=2))
        return
    for letter in letters:
        click.echo(
            f"{letter.offset:>6}  replayed {letter.replay_count}  {_one_line(letter.reason)}  "
            f"{letter.source}  key {letter.key_text() or '-'}"
        )
    if not letters:
        click.echo("no dead letters" + (f" matching {reason!r}" if reason else ""))


@dlq.command("show")
@click.argument("offset", type=click.IntRange(min=0))
def dlq_show(offset: int) -> None:
    """One dead letter: every header, the key and the value (pretty-printed when it is JSON)."""
    from file_pipeline.events.dead_letters import read_dead_letters

    with _kafka() as kafka:
        letters = read_dead_letters(kafka, offsets=[offset])
        topic = kafka.dead_letter_topic
    if not letters:
        fail(f"no dead letter at offset {offset} of {topic}")
    for letter in letters:
        when = (
            datetime.fromtimestamp(letter.timestamp_ms / 1000, tz=timezone.utc).isoformat()
            if letter.timestamp_ms is not None
            else "unknown"
        )
        click.echo(f"{'offset':<10} {letter.offset} (partition {letter.partition} of {topic})")
        click.echo(f"{'written':<10} {when}")
        click.echo(f"{'key':<10} {'(none)' if letter.key is None else letter.key_text()}")
        click.secho("headers", bold=True)
        width = max((len(name) for name, _ in letter.headers), default=0)
        for name, value in letter.headers:
            click.echo(f"  {name:<{width}}  {value.decode('utf-8', errors='replace')}")
        click.secho("value", bold=True)
        click.echo(_render_value(letter.value))


def _render_value(value: bytes | None) -> str:
    """JSON pretty-printed; anything else as a repr of at most SHOWN_BYTES bytes."""
    if value is None:
        return "(none: a tombstone)"
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except ValueError:  # not UTF-8 or not JSON
        shown = repr(value[:SHOWN_BYTES])
        if len(value) > SHOWN_BYTES:
            shown += f" ... ({len(value)} bytes in all)"
        return shown


@dlq.command("replay")
@click.option(
    "--reason", default=None, help="Replay letters whose reason contains this (case-insensitive)."
)
@click.option("--offsets", default=None, help="Replay these offsets, e.g. 3,7,9.")
@click.option("--force", is_flag=True, help="Replay letters at or over the limit too.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=DEFAULT_REPLAY_LIMIT,
    show_default=True,
    help="Letters replayed this many times already are left alone (unless --force).",
)
def dlq_replay(reason: str | None, offsets: str | None, force: bool, limit: int) -> None:
    """Send dead letters back to `file-events` for the sensor to read again.

    Each goes with its original key and value and headers recording the dead letter it came from
    and how many times it has been replayed; if it fails again, its new dead letter carries the
    raised count, and after --limit replays it is left alone unless --force.
    """
    from file_pipeline.events.dead_letters import read_dead_letters, replay

    if (reason is None) == (offsets is None):
        fail("give either --reason or --offsets (not both)")
    if reason is not None and not reason.strip():
        fail("--reason must not be empty")
    wanted = _parse_offsets(offsets) if offsets is not None else None
    with _kafka() as kafka:
        letters = read_dead_letters(kafka, reason=reason, offsets=wanted)
        for offset in _missing(wanted, letters):
            click.secho(
                f"no dead letter at offset {offset} of {kafka.dead_letter_topic}",
                fg="red",
                err=True,
            )
        if not letters:
            fail("no dead letters match" + (f" {reason!r}" if reason else " those offsets"))
        result = replay(kafka, letters, limit=limit, force=force)
    for delivery in result.deliveries:
        letter: DeadLetter = delivery.message.ref
        click.echo(
            f"replayed {letter.offset} -> {delivery.message.topic}[{delivery.partition}]"
            f"@{delivery.offset} (replay {letter.replay_count + 1}): {_one_line(letter.reason)}"
        )
    for letter in result.over_limit:
        click.echo(
            f"over the limit {letter.offset}: replayed {letter.replay_count} times already "
            f"(limit {limit}), left alone (--force replays it): {_one_line(letter.reason)}"
        )
    click.echo(f"{len(result.replayed)} replayed, {len(result.over_limit)} over the limit")
