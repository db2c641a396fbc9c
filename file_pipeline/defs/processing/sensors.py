"""The `file_events_sensor`: reads `file-events` from the offsets in its cursor and launches one
processing run per batch. Invalid messages go to the dead-letter topic; the sensor moves on.
"""

import json

import dagster as dg
from confluent_kafka import KafkaError, Message

from file_pipeline import settings
from file_pipeline.defs.processing.jobs import PROCESSING_ASSETS, process_file_events
from file_pipeline.defs.upload.assets import file_events
from file_pipeline.errors import EventPublishError
from file_pipeline.event_batches import PolledBatch, RejectedMessage, poll_new_events
from file_pipeline.events import EventType
from file_pipeline.resources import KafkaResource, PostgresResource

SENSOR_GROUP_ID = "file-pipeline-sensor"
MAX_EVENTS_PER_RUN = int(settings.FILE_EVENTS_BATCH_SIZE.value())
TICK_INTERVAL_SECONDS = int(settings.FILE_EVENTS_SENSOR_INTERVAL.value())
TICK_TIME_BUDGET_SECONDS = 20.0
MAX_UPLOAD_RUN_TAGS = 5


def parse_cursor(cursor: str | None, topic: str) -> dict[int, int]:
    """Next offset to read per partition; empty for a new sensor or a different topic."""
    if not cursor:
        return {}
    doc = json.loads(cursor)
    if doc.get("topic") != topic:
        return {}
    return {int(p): int(o) for p, o in doc.get("offsets", {}).items()}


def make_cursor(topic: str, offsets: dict[int, int]) -> str:
    return json.dumps({"topic": topic, "offsets": {str(p): o for p, o in sorted(offsets.items())}})


def run_key(topic: str, batch: PolledBatch) -> str:
    return f"{topic}:" + ",".join(f"{r.partition}:{r.start}-{r.end}" for r in batch.ranges())


def dead_letter(kafka: KafkaResource, topic: str, rejected: list[RejectedMessage]) -> None:
    """Publish rejected messages to the dead-letter topic, with headers saying why and from where.

    Raises EventPublishError unless every message was acknowledged, so the cursor never moves
    past a message that is neither processed nor dead-lettered.
    """
    if not rejected:
        return
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(str(err))

    producer = kafka.producer()
    for r in rejected:
        producer.produce(
            kafka.dead_letter_topic,
            key=r.key,
            value=r.value,
            headers=[
                ("dlq.reason", r.reason.encode("utf-8")),
                ("dlq.source.topic", topic.encode("utf-8")),
                ("dlq.source.partition", str(r.partition).encode()),
                ("dlq.source.offset", str(r.offset).encode()),
                ("dlq.stage", b"file_events_sensor"),
            ],
            on_delivery=on_delivery,
        )
        producer.poll(0)
    remaining = producer.flush(30)
    if remaining or failures:
        raise EventPublishError(
            f"dead-letter topic {kafka.dead_letter_topic}: {remaining} unacknowledged, "
            f"{len(failures)} failed ({'; '.join(failures[:3])})"
        )


@dg.sensor(
    job=process_file_events,
    minimum_interval_seconds=TICK_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Consumes `file-events` with per-partition offsets kept in the cursor and launches one "
        "processing run per batch (up to 500 events); invalid messages go to `file-events.dlq`."
    ),
)
def file_events_sensor(
    context: dg.SensorEvaluationContext, kafka: KafkaResource, postgres: PostgresResource
) -> dg.SensorResult:
    topic = kafka.file_events_topic
    kafka.ensure_topics()
    start = parse_cursor(context.cursor, topic)
    consumer = kafka.consumer(SENSOR_GROUP_ID)
    try:
        batch = poll_new_events(
            consumer,
            topic,
            start,
            max_events=MAX_EVENTS_PER_RUN,
            time_budget_seconds=TICK_TIME_BUDGET_SECONDS,
        )
    finally:
        consumer.close()

    upload_runs = _reject_unknown_files(batch, postgres)
    dead_letter(kafka, topic, batch.rejected)
    for r in batch.rejected:
        context.log.warning(f"dead-lettered {topic}[{r.partition}]@{r.offset}: {r.reason}")

    run_requests = []
    ranges = batch.ranges()
    if ranges:
        batch_config = {"topic": topic, "ranges": [r.as_config() for r in ranges]}
        offsets_tag = ",".join(f"{r.partition}:{r.start}-{r.end}" for r in ranges)
        run_requests.append(
            dg.RunRequest(
                run_key=run_key(topic, batch),
                run_config={
                    "ops": {asset.op.name: {"config": batch_config} for asset in PROCESSING_ASSETS}
                },
                tags={
                    "file_pipeline/topic": topic,
                    "file_pipeline/offsets": offsets_tag,
                    "file_pipeline/events": str(len(batch.events)),
                    "file_pipeline/upload_runs": ",".join(upload_runs[:MAX_UPLOAD_RUN_TAGS])
                    + (",…" if len(upload_runs) > MAX_UPLOAD_RUN_TAGS else ""),
                },
            )
        )
    context.log.info(
        f"{len(batch.events)} events, {len(batch.rejected)} dead-lettered, lag {batch.lag()}"
    )
    lag = dg.AssetObservation(
        asset_key=file_events.key,
        metadata={
            "consumer_lag": batch.lag(),
            "events_read": len(batch.events),
            "dead_lettered": len(batch.rejected),
            "next_offsets": dg.MetadataValue.json(
                {str(p): o for p, o in sorted(batch.next_offsets.items())}
            ),
        },
    )
    return dg.SensorResult(
        run_requests=run_requests,
        cursor=make_cursor(topic, batch.next_offsets),
        asset_events=[lag] if batch.high_watermarks else [],
    )


def _reject_unknown_files(batch: PolledBatch, postgres: PostgresResource) -> list[str]:
    """Move UPLOADED events whose file has no row to the rejected list (they go to the DLQ);
    returns the upload runs that produced the batch's files, for the run's tags."""
    ids = [r.event.file.id for r in batch.events]
    if not ids:
        return []
    with postgres.connection() as conn:
        found = dict(
            conn.execute(
                "SELECT id, upload_run_id FROM files WHERE id = ANY(%s)", (ids,)
            ).fetchall()
        )
    kept = []
    for received in batch.events:
        if received.event.event_type == EventType.UPLOADED and received.event.file.id not in found:
            batch.rejected.append(
                RejectedMessage(
                    received.partition,
                    received.offset,
                    received.key,
                    received.value,
                    f"unknown file: no row in files for id {received.event.file.id}",
                )
            )
        else:
            kept.append(received)
    batch.events = kept
    return sorted({run for run in found.values() if run})
