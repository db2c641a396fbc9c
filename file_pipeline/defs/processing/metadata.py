"""A stage's report as materialization metadata: counts the UI plots, the batch's per-file
outcomes, and the failures with their reasons."""

from typing import Any

import dagster as dg

from file_pipeline.processing.batch import LoadedBatch, StageReport
from file_pipeline.states import Outcome

_OUTCOME_COLUMNS = [
    dg.TableColumn("file_id", "string"),
    dg.TableColumn("filename", "string"),
    dg.TableColumn("event", "string"),
    dg.TableColumn("outcome", "string"),
    dg.TableColumn("detail", "string"),
    dg.TableColumn("error_type", "string"),
    dg.TableColumn("seconds", "float"),
]


def stage_metadata(report: StageReport, batch: LoadedBatch) -> dict[str, Any]:
    failures = [row for row in report.rows if row["outcome"] == Outcome.FAILED.value]
    metadata: dict[str, Any] = {
        "files_processed": report.count(Outcome.DONE) + report.count(Outcome.PARTIAL),
        "files_partial": report.count(Outcome.PARTIAL),
        "files_skipped": report.count(Outcome.SKIPPED),
        "files_failed": report.count(Outcome.FAILED),
        "duration_seconds": report.seconds(),
        "outcomes": dg.MetadataValue.table(
            records=[dg.TableRecord(row) for row in report.rows],
            schema=dg.TableSchema(columns=_OUTCOME_COLUMNS),
        ),
        "failures": dg.MetadataValue.table(
            records=[dg.TableRecord(row) for row in failures[:100]],
            schema=dg.TableSchema(columns=_OUTCOME_COLUMNS),
        ),
        "top_failure_reasons": dg.MetadataValue.json(
            [{"reason": reason, "files": count} for reason, count in report.top_failures()]
        ),
    }
    if batch.missing:
        metadata["missing"] = dg.MetadataValue.json(batch.missing)
    return metadata
