"""The one place resource keys are bound. Values come from environment variables; an unset
variable falls back to the local stack's default (the same as docker-compose.yml), so
`dagster dev` works with no configuration after `file-pipeline stack up`.

The CLI, the tests and the benchmarks build their resources from `resource_defs()` too (through
`dg.build_resources`), so a run and a terminal command always see the same configuration.
"""

import os
from typing import Any

import dagster as dg

from file_pipeline import settings
from file_pipeline.resources import (
    ClamAVResource,
    KafkaResource,
    ObjectStorageResource,
    PostgresResource,
    ProcessingResource,
)


def _bind(var: settings.EnvVar, kind: type = str) -> Any:
    """`EnvVar(name)` when the variable is set (resolved at run time, shown as env in the UI),
    else the local-stack default. Reads only the environment: nothing connects here."""
    if var.name not in os.environ:
        return kind(var.default)
    if kind is int:
        return dg.EnvVar.int(var.name)
    return dg.EnvVar(var.name)


def resource_defs() -> dict[str, dg.ConfigurableResource]:
    """Every resource, by key, configured from the environment as it is now."""
    return {
        "storage": ObjectStorageResource(
            endpoint_url=_bind(settings.S3_ENDPOINT_URL),
            aws_access_key_id=_bind(settings.AWS_ACCESS_KEY_ID),
            aws_secret_access_key=_bind(settings.AWS_SECRET_ACCESS_KEY),
            region_name=_bind(settings.AWS_REGION),
            bucket=_bind(settings.S3_BUCKET),
        ),
        "postgres": PostgresResource(database_url=_bind(settings.DATABASE_URL)),
        "kafka": KafkaResource(
            bootstrap_servers=_bind(settings.KAFKA_BOOTSTRAP_SERVERS),
            file_events_topic=_bind(settings.FILE_EVENTS_TOPIC),
            notifications_topic=_bind(settings.FILE_NOTIFICATIONS_TOPIC),
        ),
        "clamav": ClamAVResource(
            host=_bind(settings.CLAMAV_HOST), port=_bind(settings.CLAMAV_PORT_VAR, int)
        ),
        "processing": ProcessingResource(
            renditions=_bind(settings.THUMBNAIL_RENDITIONS),
            video_poster_frames=_bind(settings.VIDEO_POSTER_FRAMES),
            video_web_rendition_height=_bind(settings.VIDEO_WEB_RENDITION_HEIGHT, int),
            video_web_rendition_max_mb=_bind(settings.VIDEO_WEB_RENDITION_MAX_MB, int),
            workers=_bind(settings.PROCESSING_WORKERS, int),
            time_budget_seconds=_bind(settings.FILE_TIME_BUDGET_SECONDS, int),
            memory_budget_mb=_bind(settings.FILE_MEMORY_BUDGET_MB, int),
            spool_dir=_bind(settings.SPOOL_DIR),
            unscannable=_bind(settings.SCAN_UNSCANNABLE),
        ),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=resource_defs())
