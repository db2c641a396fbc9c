"""Running one processing step over a batch of events, file by file.

Every processing asset is the same loop: for each event of the run's batch, look up the file's
row, call the step's handler, retry transient failures a bounded number of times, and record the
outcome in `processing_results` (upserted per file and step, so a redelivered event overwrites
rather than duplicates). A file that fails does not fail the batch; a database outage does, so
Dagster retries the run and nothing is lost.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
import psycopg

from file_pipeline.db import queries
from file_pipeline.defs.processing.batch import load_batch
from file_pipeline.defs.processing.config import EventBatchConfig
from file_pipeline.errors import FilePipelineError, ObjectStoreError
from file_pipeline.event_batches import ReceivedEvent
from file_pipeline.resources import KafkaResource, PostgresResource

MAX_ATTEMPTS = 3
RETRY_BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
class StepOutcome:
    outcome: str  # done | skipped | failed
    detail: str


Handler = Callable[[psycopg.Connection, ReceivedEvent, dict[str, Any] | None], StepOutcome]

TRANSIENT: tuple[type[BaseException], ...] = (ObjectStoreError,)


def run_step(
    context: dg.AssetExecutionContext,
    step: str,
    events: list[ReceivedEvent],
    postgres: PostgresResource,
    handler: Handler,
) -> list[dict[str, Any]]:
    """Apply `handler` to every event; returns one outcome row per event for the metadata."""
    outcomes: list[dict[str, Any]] = []
    run_id = context.run.run_id
    with postgres.connection() as conn:
        rows = queries.get_files(conn, [e.event.file.id for e in events])
        conn.commit()
        for received in events:
            meta = received.event.file
            row = rows.get(meta.id)
            started = time.monotonic()
            attempts = 0
            while True:
                attempts += 1
                try:
                    result = handler(conn, received, row)
                    break
                except TRANSIENT as exc:
                    conn.rollback()
                    if attempts >= MAX_ATTEMPTS:
                        result = StepOutcome("failed", f"after {attempts} attempts: {exc}")
                        break
                    context.log.warning(f"{step} {meta.id}: attempt {attempts} failed: {exc}")
                    time.sleep(RETRY_BACKOFF_SECONDS * attempts)
                except FilePipelineError as exc:
                    conn.rollback()
                    result = StepOutcome("failed", str(exc))
                    break
            if row is not None:
                queries.record_result(
                    conn,
                    meta.id,
                    step,
                    result.outcome,
                    result.detail,
                    received.dedup_key,
                    run_id,
                    attempts,
                )
            conn.commit()
            if result.outcome == "failed":
                context.log.warning(
                    f"{step} failed for {meta.id} ({meta.filename}): {result.detail}"
                )
            outcomes.append(
                {
                    "file_id": meta.id,
                    "filename": meta.filename,
                    "event": received.event.event_type.value,
                    "outcome": result.outcome,
                    "detail": result.detail,
                    "seconds": round(time.monotonic() - started, 3),
                }
            )
    return outcomes


def process_batch(
    context: dg.AssetExecutionContext,
    step: str,
    config: EventBatchConfig,
    kafka: KafkaResource,
    postgres: PostgresResource,
    handler: Handler,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Load the run's batch, apply `handler` to each event; returns (metadata, outcomes)."""
    started = time.monotonic()
    outcomes = run_step(context, step, load_batch(context, config, kafka), postgres, handler)
    return step_metadata(outcomes, started), outcomes


def step_metadata(outcomes: list[dict[str, Any]], started: float) -> dict[str, Any]:
    counts = {
        k: sum(1 for o in outcomes if o["outcome"] == k) for k in ("done", "skipped", "failed")
    }
    return {
        "files_processed": counts["done"],
        "files_skipped": counts["skipped"],
        "files_failed": counts["failed"],
        "duration_seconds": round(time.monotonic() - started, 3),
        "outcomes": dg.MetadataValue.table(
            records=[dg.TableRecord(o) for o in outcomes],
            schema=dg.TableSchema(
                columns=[
                    dg.TableColumn("file_id", "string"),
                    dg.TableColumn("filename", "string"),
                    dg.TableColumn("event", "string"),
                    dg.TableColumn("outcome", "string"),
                    dg.TableColumn("detail", "string"),
                    dg.TableColumn("seconds", "float"),
                ]
            ),
        ),
    }


def is_clean(row: dict[str, Any] | None) -> bool:
    return row is not None and row["deleted_at"] is None and row["status"] == "clean"


def not_clean_reason(row: dict[str, Any] | None) -> str:
    if row is None:
        return "no row in files for this id"
    if row["deleted_at"] is not None:
        return "file was deleted"
    return f"file is {row['status']}, not clean"
