"""File statistics over the application tables (pandas), shared by the `file_statistics` asset and
`file-pipeline stats`, so the UI and the terminal always show the same numbers."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg
from confluent_kafka import TopicPartition

from file_pipeline.resources.kafka import KafkaResource

STATUSES = ("pending", "clean", "infected", "failed", "deleted")


@dataclass(frozen=True)
class FileStatistics:
    files: int
    bytes: int
    users: int
    by_status: dict[str, int]
    by_user: pd.DataFrame
    by_content_type: pd.DataFrame
    latency_p50_seconds: float | None
    latency_p95_seconds: float | None
    events_sent: int
    events_unsent: int
    dlq_messages: int | None
    exif_rows: int
    thumbnails: int
    indexed_files: int
    notifications: int

    def numbers(self) -> dict[str, float | int]:
        """Every scalar, named for the UI's metadata plots."""
        values: dict[str, float | int] = {
            "files": self.files,
            "bytes": self.bytes,
            "users": self.users,
            "events_sent": self.events_sent,
            "events_unsent": self.events_unsent,
            "exif_rows": self.exif_rows,
            "thumbnails": self.thumbnails,
            "indexed_files": self.indexed_files,
            "notifications": self.notifications,
        }
        values.update({f"files_{status}": n for status, n in self.by_status.items()})
        if self.latency_p50_seconds is not None:
            values["latency_p50_seconds"] = self.latency_p50_seconds
        if self.latency_p95_seconds is not None:
            values["latency_p95_seconds"] = self.latency_p95_seconds
        if self.dlq_messages is not None:
            values["dlq_messages"] = self.dlq_messages
        return values


def _frame(conn: psycopg.Connection, sql: str) -> pd.DataFrame:
    cur = conn.execute(sql)
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def dead_letter_count(kafka: KafkaResource, timeout: float = 5.0) -> int | None:
    """Messages currently on the dead-letter topic, or None when Kafka does not answer."""
    consumer = kafka.consumer("file-pipeline-statistics")
    try:
        metadata = consumer.list_topics(kafka.dead_letter_topic, timeout=timeout)
        topic = metadata.topics.get(kafka.dead_letter_topic)
        if topic is None or topic.error is not None:
            return None
        total = 0
        for partition in topic.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(kafka.dead_letter_topic, partition), timeout=timeout
            )
            total += high - low
        return total
    except Exception:  # noqa: BLE001 - statistics must not fail because Kafka is down
        return None
    finally:
        consumer.close()


def compute_statistics(conn: psycopg.Connection, kafka: KafkaResource | None) -> FileStatistics:
    files = _frame(
        conn,
        "SELECT uploaded_by, coalesce(content_type, 'unknown') AS content_type, file_size, status,"
        " deleted_at IS NOT NULL AS deleted,"
        " extract(epoch FROM processed_at - created_at::timestamptz) AS latency_seconds"
        " FROM files",
    )
    live = files[~files["deleted"]] if not files.empty else files
    by_status = {status: 0 for status in STATUSES}
    if not files.empty:
        by_status.update(files["status"].value_counts().to_dict())
    by_user = (
        live.groupby("uploaded_by")
        .agg(files=("file_size", "size"), bytes=("file_size", "sum"))
        .reset_index()
        .sort_values(["files", "uploaded_by"], ascending=[False, True])
        if not live.empty
        else pd.DataFrame(columns=["uploaded_by", "files", "bytes"])
    )
    by_type = (
        live.groupby("content_type")
        .agg(files=("file_size", "size"), bytes=("file_size", "sum"))
        .reset_index()
        .sort_values(["files", "content_type"], ascending=[False, True])
        if not live.empty
        else pd.DataFrame(columns=["content_type", "files", "bytes"])
    )
    latencies = (
        files["latency_seconds"].dropna().astype(float) if not files.empty else pd.Series([])
    )
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL),"
        " (SELECT count(*) FROM outbox WHERE sent_at IS NULL),"
        " (SELECT count(*) FROM exif_metadata),"
        " (SELECT count(*) FROM thumbnails),"
        " (SELECT count(*) FROM search_index),"
        " (SELECT count(*) FROM notifications)"
    ).fetchone()
    return FileStatistics(
        files=len(live),
        bytes=int(live["file_size"].sum()) if not live.empty else 0,
        users=int(live["uploaded_by"].nunique()) if not live.empty else 0,
        by_status={k: int(v) for k, v in by_status.items()},
        by_user=by_user,
        by_content_type=by_type,
        latency_p50_seconds=round(float(latencies.quantile(0.5)), 3) if len(latencies) else None,
        latency_p95_seconds=round(float(latencies.quantile(0.95)), 3) if len(latencies) else None,
        events_sent=counts[0],
        events_unsent=counts[1],
        dlq_messages=dead_letter_count(kafka) if kafka is not None else None,
        exif_rows=counts[2],
        thumbnails=counts[3],
        indexed_files=counts[4],
        notifications=counts[5],
    )
