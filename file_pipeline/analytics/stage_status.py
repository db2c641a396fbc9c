"""Where every live file stands in every stage, the most frequent failures, and the backlogs:
what `file-pipeline status` prints and `file_statistics` records (no Dagster here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from file_pipeline.db import outbox, status
from file_pipeline.errors import DependencyUnavailableError, TopicNotFoundError
from file_pipeline.events.dead_letters import backlog_by_reason
from file_pipeline.states import Stage

if TYPE_CHECKING:
    from file_pipeline.resources.kafka import KafkaResource
    from file_pipeline.resources.postgres import PostgresResource


def stage_status(
    postgres: PostgresResource,
    kafka: KafkaResource | None,
    versions: Mapping[Stage, str | None],
) -> dict[str, Any]:
    with postgres.connection() as conn:
        counts = status.stage_counts(conn, versions)
        failures = status.top_failures(conn)
        backlog = outbox.unsent_backlog(conn)
    return {
        "stages": {stage.value: counts[stage] for stage in Stage},
        "top_failures": [
            {"stage": stage, "error_type": error_type, "reason": reason, "files": files}
            for stage, error_type, reason, files in failures
        ],
        "outbox": {"unsent": backlog.count, "oldest": backlog.oldest_created_at},
        "dead_letters": _dead_letters(kafka) if kafka is not None else None,
        "versions": {stage.value: version for stage, version in versions.items()},
    }


def _dead_letters(kafka: KafkaResource) -> dict[str, Any] | None:
    """The dead-letter backlog by reason (None when Kafka does not answer)."""
    try:
        by_reason = backlog_by_reason(kafka)
    except (DependencyUnavailableError, TopicNotFoundError):
        return None
    return {"total": sum(by_reason.values()), "by_reason": by_reason}


def status_numbers(report: Mapping[str, Any]) -> dict[str, int]:
    """The per-stage counts as flat numbers (`thumbnails_failed`, ...), for metadata plots."""
    return {
        f"{stage}_{state}": count
        for stage, counts in report["stages"].items()
        for state, count in counts.items()
    }
