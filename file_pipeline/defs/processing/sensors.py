"""The `file_events_sensor`: reads `file-events` from the offsets in its cursor and launches one
processing run per batch. Invalid messages go to the dead-letter topic; events of types other
than UPLOADED and DELETED are counted and left alone; the sensor moves on.

A tick that cannot reach Kafka fails (within its time budget) and leaves the cursor where it was.
Offsets the cursor expected but retention removed are logged, recorded as a gap on `file_events`
and fail the `no_events_skipped` check; a topic deleted and created again (new topic id) restarts
the cursor from the beginning, and run keys carry the topic id so no new batch is mistaken for an
old one.

Dagster's sensor daemon starts a tick at most every 5 seconds, whatever the sensor's minimum
interval. So that an upload is not left waiting for the next tick, a tick that finds nothing new
waits on Kafka until FILE_EVENTS_WAIT_SECONDS after its start (blocked in the consumer, using no
CPU) and requests the run as soon as an event arrives. It waits only while no processing run is
waiting to start: under load, ticks return at once and events gather into bigger batches.
"""

import time

import dagster as dg

from file_pipeline import settings
from file_pipeline.db import files
from file_pipeline.defs.processing.config import ProcessingBatchConfig
from file_pipeline.defs.processing.jobs import process_file_events
from file_pipeline.defs.upload.assets import file_events
from file_pipeline.events.cursor import SensorCursor, run_key, starting_point
from file_pipeline.events.dead_letters import dead_letter
from file_pipeline.events.offsets import (
    Deadline,
    PolledBatch,
    offset_ranges,
    poll_new_events,
    reject_unknown_files,
    wait_for_new_messages,
)
from file_pipeline.resources import KafkaResource, PostgresResource

SENSOR_GROUP_ID = "file-pipeline-sensor"
MAX_EVENTS_PER_RUN = int(settings.FILE_EVENTS_BATCH_SIZE.value())
TICK_INTERVAL_SECONDS = int(settings.FILE_EVENTS_SENSOR_INTERVAL.value())
TICK_TIME_BUDGET_SECONDS = 20.0
LINGER_SECONDS = 0.25
"""After the first new event, how long a waiting tick lets the rest of its upload arrive."""
WAITING_RUN_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
]
MAX_UPLOAD_RUN_TAGS = 5
NO_EVENTS_SKIPPED = "no_events_skipped"


@dg.sensor(
    job=process_file_events,
    minimum_interval_seconds=TICK_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Consumes `file-events` with per-partition offsets kept in the cursor and launches one "
        f"processing run per batch (up to {MAX_EVENTS_PER_RUN} events, FILE_EVENTS_BATCH_SIZE); "
        "invalid messages go to the dead-letter topic."
    ),
)
def file_events_sensor(
    context: dg.SensorEvaluationContext, kafka: KafkaResource, postgres: PostgresResource
) -> dg.SensorResult:
    topic = kafka.file_events_topic
    deadline = Deadline(TICK_TIME_BUDGET_SECONDS)
    # Counted from the start of the tick, so a slow start shortens the wait, not the next tick.
    wait = Deadline(float(settings.FILE_EVENTS_WAIT_SECONDS.value()))
    topic_id = kafka.topic_id(topic, timeout_seconds=deadline.remaining(10.0))
    start = starting_point(SensorCursor.parse(context.cursor), topic, topic_id)
    if start.restart_from_beginning:
        context.log.warning(start.reason)
    consumer = kafka.consumer(SENSOR_GROUP_ID)
    try:
        batch = poll_new_events(
            consumer,
            topic,
            start.offsets,
            max_events=MAX_EVENTS_PER_RUN,
            deadline=deadline,
            restart_from_beginning=start.restart_from_beginning,
        )
        idle = batch.empty and not wait.expired and not _processing_run_waiting(context, topic)
        if idle and _wait_for_new_events(kafka, topic, batch.next_offsets, wait.remaining()):
            time.sleep(LINGER_SECONDS)
            batch = poll_new_events(
                consumer,
                topic,
                batch.next_offsets,
                max_events=MAX_EVENTS_PER_RUN,
                deadline=deadline,
            )
    finally:
        consumer.close()
    for reset in batch.resets:
        context.log.warning(
            f"{topic}[{reset.partition}]: the cursor was at offset {reset.cursor_offset} but the "
            f"partition ends at {reset.high_watermark} (topic recreated or truncated): reading "
            "it again from its first offset"
        )
    for gap in batch.gaps:
        context.log.error(
            f"{topic}[{gap.partition}]: offsets {gap.first_missing}-{gap.last_missing} were "
            f"deleted by retention before they were read: {gap.size} events skipped"
        )

    with postgres.connection() as conn:
        upload_runs = files.upload_runs_of(conn, [r.event.file.id for r in batch.events])
    events, unknown = reject_unknown_files(batch.events, set(upload_runs))
    rejected = [*batch.rejected, *unknown]
    kafka.publish(
        [dead_letter(r, topic, kafka.dead_letter_topic, "file_events_sensor") for r in rejected]
    ).raise_on_failure(f"dead-letter topic {kafka.dead_letter_topic}")
    for r in rejected:
        context.log.warning(f"dead-lettered {topic}[{r.partition}]@{r.offset}: {r.reason}")

    run_requests = []
    ranges = offset_ranges([(e.partition, e.offset) for e in events])
    if ranges:
        batch_config = ProcessingBatchConfig.for_ranges(topic, ranges)
        runs = sorted({run for run in upload_runs.values() if run})
        run_requests.append(
            dg.RunRequest(
                run_key=run_key(topic, topic_id, ranges),
                run_config=dg.RunConfig(
                    ops={
                        "virus_scan": batch_config,
                        "derived_outputs": batch_config,
                        "notifications": batch_config,
                    }
                ),
                tags={
                    "file_pipeline/topic": topic,
                    "file_pipeline/offsets": ",".join(r.label() for r in ranges),
                    "file_pipeline/events": str(len(events)),
                    "file_pipeline/upload_runs": ",".join(runs[:MAX_UPLOAD_RUN_TAGS])
                    + (",…" if len(runs) > MAX_UPLOAD_RUN_TAGS else ""),
                },
            )
        )
    context.log.info(
        f"{len(events)} events, {len(batch.ignored)} left alone, {len(rejected)} dead-lettered, "
        f"lag {batch.lag()}"
    )
    return dg.SensorResult(
        run_requests=run_requests,
        cursor=SensorCursor(topic, topic_id, batch.next_offsets).serialize(),
        asset_events=_asset_events(batch, len(events), len(rejected)),
    )


def _wait_for_new_events(
    kafka: KafkaResource, topic: str, next_offsets: dict[int, int], seconds: float
) -> bool:
    """Wait on a consumer of its own: one whose partitions were reassigned is slow to fetch
    again (0.5 to 2.5 s measured), a fresh one reads at once."""
    waiter = kafka.consumer(SENSOR_GROUP_ID)
    try:
        return wait_for_new_messages(waiter, topic, next_offsets, Deadline(seconds))
    finally:
        waiter.close()


def _processing_run_waiting(context: dg.SensorEvaluationContext, topic: str) -> bool:
    """Whether a processing run of this topic is queued or starting (so a new run would only
    queue behind it, and waiting for more events costs no latency)."""
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=process_file_events.name,
            statuses=WAITING_RUN_STATUSES,
            tags={"file_pipeline/topic": topic},
        ),
        limit=1,
    )
    return bool(records)


def _asset_events(batch: PolledBatch, processed: int, rejected: int) -> list:
    """What the tick observed on `file_events` (only when it read something, or found offsets
    missing or reset: idle ticks record nothing), and a failed check for events never read."""
    read_anything = processed or batch.ignored or rejected
    if not (read_anything or batch.gaps or batch.resets):
        return []
    observed: list = [
        dg.AssetObservation(
            asset_key=file_events.key,
            metadata={
                "consumer_lag": batch.lag(),
                "events_read": processed,
                "events_ignored": len(batch.ignored),
                "ignored_by_type": dg.MetadataValue.json(batch.ignored_by_type()),
                "dead_lettered": rejected,
                "offset_gaps": dg.MetadataValue.json(
                    [
                        {"partition": g.partition, "first": g.first_missing, "last": g.last_missing}
                        for g in batch.gaps
                    ]
                ),
                "cursor_resets": len(batch.resets),
                "next_offsets": dg.MetadataValue.json(
                    {str(p): o for p, o in sorted(batch.next_offsets.items())}
                ),
            },
        )
    ]
    if batch.gaps:
        observed.append(
            dg.AssetCheckEvaluation(
                asset_key=file_events.key,
                check_name=NO_EVENTS_SKIPPED,
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "events_skipped": sum(g.size for g in batch.gaps),
                    "gaps": dg.MetadataValue.json(
                        [f"{g.partition}:{g.first_missing}-{g.last_missing}" for g in batch.gaps]
                    ),
                },
            )
        )
    return observed
