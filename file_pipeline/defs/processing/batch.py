"""Loading a processing run's batch of events from Kafka, by the offsets in its run config."""

import dagster as dg

from file_pipeline.defs.processing.config import EventBatchConfig
from file_pipeline.event_batches import ReceivedEvent, read_ranges
from file_pipeline.resources import KafkaResource

PROCESSING_GROUP_ID = "file-pipeline-processing"


def load_batch(
    context: dg.AssetExecutionContext, config: EventBatchConfig, kafka: KafkaResource
) -> list[ReceivedEvent]:
    """The valid events of this run's batch, in offset order per partition.

    Invalid messages in the range were already sent to the dead-letter topic by the sensor; they
    are skipped here.
    """
    consumer = kafka.consumer(PROCESSING_GROUP_ID)
    try:
        events, rejected = read_ranges(consumer, config.topic, config.offset_ranges())
    finally:
        consumer.close()
    if rejected:
        context.log.info(f"skipping {len(rejected)} invalid messages (already dead-lettered)")
    context.log.info(
        f"batch: {len(events)} events from {config.topic} "
        + ", ".join(f"p{r.partition}:{r.start}-{r.end}" for r in config.ranges)
    )
    return events
