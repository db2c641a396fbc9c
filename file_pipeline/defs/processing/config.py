"""Run config of a processing run: which offsets of `file-events` it handles (not the payloads)."""

import dagster as dg
from pydantic import Field

from file_pipeline.event_batches import OffsetRange


class PartitionOffsets(dg.Config):
    partition: int = Field(description="Partition of the topic.")
    start: int = Field(description="First offset of the batch (inclusive).")
    end: int = Field(description="Last offset of the batch (inclusive).")


class EventBatchConfig(dg.Config):
    """The batch of `file-events` a processing run handles, as offset ranges."""

    topic: str = Field(description="Topic the offsets refer to.")
    ranges: list[PartitionOffsets] = Field(default=[], description="Offset ranges per partition.")

    def offset_ranges(self) -> list[OffsetRange]:
        return [OffsetRange(r.partition, r.start, r.end) for r in self.ranges]
