"""Analytics domain: statistics over the application tables (UI and `file-pipeline stats`)."""

import dagster as dg
import pandas as pd

from file_pipeline.db import queries
from file_pipeline.defs.processing.assets import notifications
from file_pipeline.resources import PostgresResource


@dg.asset(
    group_name="analytics",
    deps=[notifications],
    kinds={"postgres", "pandas"},
    owners=["team:file-pipeline"],
    description="Totals and breakdowns of stored files, by status and content type.",
)
def file_statistics(postgres: PostgresResource) -> dg.MaterializeResult:
    with postgres.connection() as conn:
        stats = queries.file_statistics(conn)
    by_type = pd.DataFrame(stats["by_content_type"], columns=["content_type", "files", "bytes"])
    by_status = {row["status"]: row["files"] for row in stats["by_status"]}
    return dg.MaterializeResult(
        metadata={
            "files": stats["totals"]["files"],
            "bytes": int(stats["totals"]["bytes"]),
            "users": stats["totals"]["users"],
            "events_sent": stats["events"]["sent"],
            "events_unsent": stats["events"]["unsent"],
            "exif_rows": stats["exif_rows"],
            **{f"files_{status}": count for status, count in by_status.items()},
            "by_content_type": dg.MetadataValue.md(by_type.to_markdown(index=False))
            if not by_type.empty
            else "no files",
        }
    )
