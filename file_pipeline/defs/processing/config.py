"""Run config of a processing run: which files it handles, by reference, never by payload.

A run launched by `file_events_sensor` names offset ranges of `file-events`; a reprocess batch
names file ids. Every processing asset of the run gets the same batch.
"""

import dagster as dg
from pydantic import Field

from file_pipeline.events.offsets import OffsetRange


class PartitionOffsets(dg.Config):
    partition: int = Field(description="Partition of the topic.")
    start: int = Field(description="First offset of the batch (inclusive).")
    end: int = Field(description="Last offset of the batch (inclusive).")


class ProcessingBatchConfig(dg.Config):
    """The files a processing run handles: offset ranges of `file-events`, or file ids."""

    topic: str = Field(default="", description="Topic the offsets refer to.")
    ranges: list[PartitionOffsets] = Field(default=[], description="Offset ranges per partition.")
    file_ids: list[str] = Field(default=[], description="Files to reprocess (instead of events).")
    source: str = Field(
        default="", description="What asked for the reprocess (recorded with each outcome)."
    )
    force: bool = Field(
        default=False, description="Redo outputs that are already current (reprocess only)."
    )

    def offset_ranges(self) -> list[OffsetRange]:
        return [OffsetRange(r.partition, r.start, r.end) for r in self.ranges]

    @classmethod
    def for_ranges(cls, topic: str, ranges: list[OffsetRange]) -> "ProcessingBatchConfig":
        return cls(
            topic=topic,
            ranges=[
                PartitionOffsets(partition=r.partition, start=r.start, end=r.end) for r in ranges
            ],
        )
