"""The `notifications` stage, per file: the file's final state and what its owner is told.
No Dagster here.

After the scan and the derived stages, every file of the batch that has a verdict reaches its
final state (`processed_at`), and its owner gets one notification per event saying what happened:
`processed` (ready), `failed` (naming the stages that failed), `infected`, or `deleted`. A file
deleted before its upload was processed gets no "ready". A reprocess notifies only when the
file's state changed (e.g. a rescan found it infected). Notifications are published from the
table with their rows locked, so two runs at once never publish the same one twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from file_pipeline.db import files, notifications, outputs
from file_pipeline.events.publishing import OutgoingMessage
from file_pipeline.log import Logger
from file_pipeline.processing.batch import (
    Recorder,
    Row,
    StageReport,
    StepOutcome,
    WorkItem,
    chunks,
)
from file_pipeline.states import FileStatus, NotificationKind, Outcome, SensitiveKind, Stage

if TYPE_CHECKING:
    from file_pipeline.resources.kafka import KafkaResource
    from file_pipeline.resources.postgres import PostgresResource

PUBLISH_BATCH = 1000


@dataclass
class NotifyContext:
    postgres: PostgresResource
    kafka: KafkaResource
    run_id: str | None
    log: Logger


def message_for(
    item: WorkItem, row: Row, stage_results: dict[Stage, dict[str, Any]]
) -> tuple[NotificationKind, str] | StepOutcome:
    """What the owner is told about this event, or why nothing is said (an outcome)."""
    name = row["filename"]
    if item.deleted:
        return NotificationKind.DELETED, f"Your file {name} was deleted."
    if row["deleted_at"] is not None:
        return StepOutcome(Outcome.SKIPPED, "file was deleted before it was processed")
    status = FileStatus(row["status"])
    if status is FileStatus.PENDING:
        return StepOutcome(Outcome.SKIPPED, "file is still pending a virus scan verdict")
    if status is FileStatus.INFECTED:
        return NotificationKind.INFECTED, (
            f"Your file {name} was quarantined: {row['scan_signature']}."
        )
    if status is FileStatus.FAILED:
        scan = stage_results.get(Stage.VIRUS_SCAN, {})
        reason = scan.get("detail") or "it could not be scanned"
        return NotificationKind.FAILED, f"Your file {name} could not be scanned: {reason}."
    failed = [
        stage.value
        for stage in Stage.derived()
        if stage_results.get(stage, {}).get("outcome") == Outcome.FAILED.value
    ]
    flagged = _sensitive_data_sentence(row.get("sensitive_data"))
    if failed:
        return NotificationKind.FAILED, (
            f"Processing of {name} failed in {', '.join(failed)}.{flagged}"
        )
    return NotificationKind.PROCESSED, f"Your file {name} is ready!{flagged}"


def _sensitive_data_sentence(counts: dict[str, int] | None) -> str:
    """ " It appears to contain 1 payment card number and 2 e-mail addresses." (counts only)."""
    if not counts:
        return ""
    order = [kind.value for kind in SensitiveKind]
    parts = []
    ranked = sorted(counts.items(), key=lambda kc: order.index(kc[0]) if kc[0] in order else 99)
    for kind, count in ranked:
        try:
            noun = SensitiveKind(kind).noun
        except ValueError:
            noun = kind.replace("_", " ")
        if count != 1:
            noun = noun + ("es" if noun.endswith("ss") else "s")
        parts.append(f"{count} {noun}")
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return f" It appears to contain {listed}."


def notify_batch(ctx: NotifyContext, items: list[WorkItem]) -> tuple[StageReport, int]:
    """Final states and notifications for the batch; returns the report and how many
    notifications were published."""
    with ctx.postgres.connection() as conn:
        recorder = Recorder(conn, Stage.NOTIFICATIONS, ctx.run_id, ctx.log)
        for chunk in chunks(items, 200):
            ids = [item.file_id for item in chunk]
            known = set(files.get_files(conn, ids))
            results = outputs.stage_results(conn, ids)
            last = notifications.last_kinds(conn, ids)
            for item in chunk:
                recorder.record(
                    item,
                    lambda c, i=item, r=results, k=last: notify_file(c, i, r.get(i.file_id, {}), k),
                    keep_result=item.file_id in known,
                )
            recorder.commit()
    return recorder.report, publish_pending(ctx)


def notify_file(
    conn: psycopg.Connection,
    item: WorkItem,
    stage_results: dict[Stage, dict[str, Any]],
    last: dict[str, NotificationKind],
) -> StepOutcome:
    row = files.share_lock_file(conn, item.file_id)
    if row is None:
        return StepOutcome(Outcome.SKIPPED, "no row in files for this id")
    decided = message_for(item, row, stage_results)
    if isinstance(decided, StepOutcome):
        return decided
    kind, message = decided
    if not item.deleted:
        files.mark_processed(conn, item.file_id)
    if item.reprocess and last.get(item.file_id) is kind:
        return StepOutcome(Outcome.SKIPPED, f"unchanged: still {kind.value}", unchanged=True)
    payload = json.dumps(
        {
            "fileId": item.file_id,
            "kind": kind.value,
            "recipient": row["uploaded_by"],
            "message": message,
            "sourceEvent": item.source,
            "steps": {stage.value: r["outcome"] for stage, r in stage_results.items()},
            "sensitiveData": row.get("sensitive_data") or {},
        },
        ensure_ascii=False,
    )
    created = notifications.insert_notification(
        conn, item.file_id, item.source, kind, row["uploaded_by"], message, payload
    )
    if not created:
        return StepOutcome(Outcome.SKIPPED, f"already notified: {kind.value}", unchanged=True)
    return StepOutcome(Outcome.DONE, f"{kind.value}: {message}")


def publish_pending(ctx: NotifyContext) -> int:
    """Publish unpublished notifications, marking only those Kafka acknowledged."""
    published = 0
    with ctx.postgres.connection() as conn:
        while True:
            with conn.transaction():
                pending = notifications.claim_unpublished(conn, PUBLISH_BATCH)
                if not pending:
                    break
                result = ctx.kafka.publish(
                    [
                        OutgoingMessage(
                            ctx.kafka.notifications_topic,
                            key=n.file_id.encode(),
                            value=n.payload.encode(),
                            ref=n.id,
                        )
                        for n in pending
                    ]
                )
                notifications.mark_published(conn, [d.message.ref for d in result.acknowledged])
            published += len(result.acknowledged)
            if result.failed:
                ctx.log.warning(
                    f"{len(result.failed)} notifications not acknowledged; the next run publishes "
                    "them"
                )
                break
            if len(pending) < PUBLISH_BATCH:
                break
    return published
