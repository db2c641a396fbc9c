"""The dead-letter topic in the Dagster UI.

- `replay_dead_letters`: the job an operator launches from the Launchpad to send dead letters back
  to `file-events`, with the same options and meaning as `file-pipeline dlq replay` (reason or
  offsets, force, limit); its metadata and logs say what was replayed and what was left alone.
- `dead_letter_backlog_sensor`: records the backlog per reason as an observation of `file_events`
  whenever it changes, so the asset page shows what waits on the dead-letter topic.
"""

import json

import dagster as dg
from pydantic import Field

from file_pipeline.defs.upload.assets import file_events
from file_pipeline.events.dead_letters import (
    DEFAULT_REPLAY_LIMIT,
    DeadLetter,
    backlog_by_reason,
    read_dead_letters,
    replay,
)
from file_pipeline.resources import KafkaResource

BACKLOG_INTERVAL_SECONDS = 60
BACKLOG_TIME_BUDGET_SECONDS = 30.0
LISTED_IN_METADATA = 100
REPLAY_OP = "dead_letter_replay"
"""The job's one op: its run config is `ops: {dead_letter_replay: {config: {...}}}`."""


class ReplayDeadLettersConfig(dg.Config):
    """Which dead letters to replay: those whose reason contains `reason`, or those at
    `offsets` (one of the two). Letters replayed `limit` times already are left alone unless
    `force`."""

    reason: str | None = Field(
        default=None,
        description="Replay letters whose reason contains this (case-insensitive), e.g. "
        "'unknown file'.",
    )
    offsets: list[int] = Field(
        default=[], description="Replay the letters at these offsets of the dead-letter topic."
    )
    force: bool = Field(default=False, description="Replay letters at or over the limit too.")
    limit: int = Field(
        default=DEFAULT_REPLAY_LIMIT,
        description="Letters replayed this many times already are left alone (unless force).",
    )


def _summary(letter: DeadLetter) -> dict[str, object]:
    return {
        "offset": letter.offset,
        "key": letter.key_text(),
        "reason": letter.reason,
        "replay_count": letter.replay_count,
        "source": letter.source,
    }


@dg.op(
    name=REPLAY_OP,
    description="Send the selected dead letters back to `file-events` (original key and value, "
    "with replay.count and replay.from.* headers) for the sensor to read again.",
)
def replay_dead_letters_op(
    context: dg.OpExecutionContext, config: ReplayDeadLettersConfig, kafka: KafkaResource
) -> dg.Output[int]:
    reason = config.reason if config.reason is None else config.reason.strip()
    if (reason is None) == (not config.offsets):
        raise dg.Failure("give either `reason` or `offsets` (not both)")
    if reason == "":
        raise dg.Failure("`reason` must not be empty")
    if config.limit < 0:
        raise dg.Failure("`limit` must be >= 0")
    offsets = config.offsets or None
    letters = read_dead_letters(kafka, reason=reason, offsets=offsets)
    missing = sorted(set(offsets or ()) - {letter.offset for letter in letters})
    for offset in missing:
        context.log.warning(f"no dead letter at offset {offset} of {kafka.dead_letter_topic}")
    if not letters:
        what = f"reason {reason!r}" if reason else f"offsets {config.offsets}"
        raise dg.Failure(f"no dead letters match {what} on {kafka.dead_letter_topic}")
    result = replay(kafka, letters, limit=config.limit, force=config.force)
    replayed = []
    for delivery in result.deliveries:
        letter: DeadLetter = delivery.message.ref
        target = f"{delivery.message.topic}[{delivery.partition}]@{delivery.offset}"
        context.log.info(
            f"replayed dead letter {letter.offset} to {target} "
            f"(replay {letter.replay_count + 1}): {letter.reason}"
        )
        replayed.append({**_summary(letter), "replayed_to": target})
    for letter in result.over_limit:
        context.log.warning(
            f"left dead letter {letter.offset} alone: replayed {letter.replay_count} times "
            f"already (limit {config.limit}; force replays it): {letter.reason}"
        )
    return dg.Output(
        len(result.replayed),
        metadata={
            "replayed": len(result.replayed),
            "over_limit": len(result.over_limit),
            "missing_offsets": dg.MetadataValue.json(missing),
            "replayed_letters": dg.MetadataValue.json(replayed[:LISTED_IN_METADATA]),
            "over_limit_letters": dg.MetadataValue.json(
                [_summary(letter) for letter in result.over_limit[:LISTED_IN_METADATA]]
            ),
        },
    )


@dg.job(
    name="replay_dead_letters",
    description="Replay dead letters to `file-events`: by reason or by offsets, leaving letters "
    "replayed `limit` times alone unless `force` (as `file-pipeline dlq replay`).",
    tags={"file_pipeline/kind": "dlq_replay"},
)
def replay_dead_letters() -> None:
    replay_dead_letters_op()


def _previous_counts(cursor: str | None) -> dict[str, int] | None:
    if not cursor:
        return None
    try:
        counts = json.loads(cursor)
    except ValueError:
        return None
    return counts if isinstance(counts, dict) else None


@dg.sensor(
    minimum_interval_seconds=BACKLOG_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Counts the dead letters of `file-events` per reason and records them on `file_events` "
        "(`dead_letters`, `dead_letters_by_reason`) whenever they change; replay them with the "
        "`replay_dead_letters` job or `file-pipeline dlq replay`."
    ),
)
def dead_letter_backlog_sensor(
    context: dg.SensorEvaluationContext, kafka: KafkaResource
) -> dg.SensorResult | dg.SkipReason:
    counts = backlog_by_reason(kafka, timeout_seconds=BACKLOG_TIME_BUDGET_SECONDS)
    total = sum(counts.values())
    if _previous_counts(context.cursor) == counts:
        return dg.SkipReason(f"dead-letter backlog unchanged: {total} letters")
    context.log.info(f"dead-letter backlog: {total} letters {counts}")
    return dg.SensorResult(
        asset_events=[
            dg.AssetObservation(
                asset_key=file_events.key,
                metadata={
                    "dead_letters": total,
                    "dead_letters_by_reason": dg.MetadataValue.json(counts),
                },
            )
        ],
        cursor=json.dumps(counts, sort_keys=True),
    )
