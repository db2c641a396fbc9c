"""File statistics over the application tables (pandas), shared by the `file_statistics` asset and
`file-pipeline stats`, so the UI and the terminal always show the same numbers.

pandas is imported when statistics are computed, not when the definitions load: every upload
from the terminal loads them, and pandas is a quarter of a second of that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

from file_pipeline.db import statistics as queries
from file_pipeline.events.dead_letters import dead_letter_count
from file_pipeline.states import FileStatus

if TYPE_CHECKING:
    import pandas as pd

    from file_pipeline.resources.kafka import KafkaResource


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
    downloads: int
    """Download URLs handed out (DOWNLOADED events)."""
    shares: int
    files_with_sensitive_data: int
    sensitive_data_by_kind: dict[str, int]
    """Live files holding each kind of sensitive data (a file counts once per kind)."""

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
            "downloads": self.downloads,
            "shares": self.shares,
            "files_with_sensitive_data": self.files_with_sensitive_data,
        }
        values.update({f"files_with_{k}": n for k, n in self.sensitive_data_by_kind.items()})
        values.update({f"files_{status}": n for status, n in self.by_status.items()})
        if self.latency_p50_seconds is not None:
            values["latency_p50_seconds"] = self.latency_p50_seconds
        if self.latency_p95_seconds is not None:
            values["latency_p95_seconds"] = self.latency_p95_seconds
        if self.dlq_messages is not None:
            values["dlq_messages"] = self.dlq_messages
        return values


def _totals(live: pd.DataFrame, column: str) -> pd.DataFrame:
    """Files and bytes per value of `column`, most files first."""
    import pandas as pd

    if live.empty:
        return pd.DataFrame(columns=[column, "files", "bytes"])
    return (
        live.groupby(column)
        .agg(files=("file_size", "size"), bytes=("file_size", "sum"))
        .reset_index()
        .sort_values(["files", column], ascending=[False, True])
    )


def compute_statistics(conn: psycopg.Connection, kafka: KafkaResource | None) -> FileStatistics:
    import pandas as pd

    columns, rows = queries.file_facts(conn)
    files = pd.DataFrame(rows, columns=columns)
    live = files[~files["deleted"]] if not files.empty else files
    by_status = {status.value: 0 for status in FileStatus}
    if not files.empty:
        by_status.update(files["status"].value_counts().to_dict())
    by_user = _totals(live, "uploaded_by")
    by_type = _totals(live, "content_type")
    latencies = (
        files["latency_seconds"].dropna().astype(float) if not files.empty else pd.Series([])
    )
    counts = queries.output_counts(conn)
    flagged, by_kind = queries.sensitive_data_files(conn)
    return FileStatistics(
        files=len(live),
        bytes=int(live["file_size"].sum()) if not live.empty else 0,
        users=int(live["uploaded_by"].nunique()) if not live.empty else 0,
        by_status={k: int(v) for k, v in by_status.items()},
        by_user=by_user,
        by_content_type=by_type,
        latency_p50_seconds=round(float(latencies.quantile(0.5)), 3) if len(latencies) else None,
        latency_p95_seconds=round(float(latencies.quantile(0.95)), 3) if len(latencies) else None,
        events_sent=counts["events_sent"],
        events_unsent=counts["events_unsent"],
        dlq_messages=dead_letter_count(kafka) if kafka is not None else None,
        exif_rows=counts["exif_rows"],
        thumbnails=counts["thumbnails"],
        indexed_files=counts["indexed_files"],
        notifications=counts["notifications"],
        downloads=counts["downloads"],
        shares=counts["shares"],
        files_with_sensitive_data=flagged,
        sensitive_data_by_kind=by_kind,
    )
