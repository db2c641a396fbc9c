"""The outbox relay sensor: events an upload could not publish (Kafka down) go out as soon as
Kafka is back, without anyone re-running the upload."""

import time

import dagster as dg

from file_pipeline.db import outbox
from file_pipeline.defs.upload.jobs import relay_file_events
from file_pipeline.resources import PostgresResource

MIN_AGE_SECONDS = 10

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(
    job=relay_file_events,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        f"Launches `relay_file_events` when outbox events older than {MIN_AGE_SECONDS}s are "
        "unsent, e.g. after a Kafka outage."
    ),
)
def outbox_relay_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SensorResult | dg.SkipReason:
    with postgres.connection() as conn:
        backlog = outbox.unsent_backlog(conn, older_than_seconds=MIN_AGE_SECONDS)
    waiting = backlog.count
    if not waiting:
        return dg.SkipReason("outbox is empty")
    in_flight = context.instance.get_runs(
        dg.RunsFilter(job_name=relay_file_events.name, statuses=IN_FLIGHT), limit=1
    )
    if in_flight:
        return dg.SkipReason(f"{waiting} events wait; relay run {in_flight[0].run_id} in flight")
    # One attempt per minute per oldest event: a failed relay (Kafka still down) is retried.
    minute = int(time.time() // 60)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"outbox-{backlog.oldest_id}-{minute}",
                tags={"file_pipeline/outbox_waiting": str(waiting)},
            )
        ]
    )
