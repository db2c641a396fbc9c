"""Configuration: environment variable names and their defaults.

Every default points at the local stack (`file-pipeline stack up`) and at docker-compose.yml, which
use the same ports and credentials. This module imports nothing from Dagster so that the CLI, the
stack manager and the pure modules can share it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

POSTGRES_HOST = "localhost"
POSTGRES_PORT = 5432
POSTGRES_USER = "postgres"
POSTGRES_PASSWORD = "postgres"
APP_DATABASE = "file_pipeline"
DAGSTER_DATABASE = "dagster"
PGBOUNCER_PORT = 6432
"""PgBouncer (session pooling) in front of the cluster: Dagster's storage connects here."""

KAFKA_PORT = 9092
KAFKA_CONTROLLER_PORT = 9093

MINIO_PORT = 9000
MINIO_CONSOLE_PORT = 9001
MINIO_ROOT_USER = "minioadmin"
MINIO_ROOT_PASSWORD = "minioadmin123"

CLAMAV_PORT = 3310

KAFKA_UI_PORT = 8080
PGADMIN_PORT = 5050


@dataclass(frozen=True)
class EnvVar:
    """One configuration variable: its name, default and what it is for."""

    name: str
    default: str
    description: str

    def value(self) -> str:
        return os.environ.get(self.name, self.default)


def _pg_url(database: str, port: int = POSTGRES_PORT) -> str:
    return f"postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@{POSTGRES_HOST}:{port}/{database}"


DATABASE_URL = EnvVar("DATABASE_URL", _pg_url(APP_DATABASE), "application database (files, outbox)")
DAGSTER_PG_URL = EnvVar(
    "DAGSTER_PG_URL",
    _pg_url(DAGSTER_DATABASE, PGBOUNCER_PORT),
    "Dagster's instance database (runs, events), through PgBouncer",
)
KAFKA_BOOTSTRAP_SERVERS = EnvVar(
    "KAFKA_BOOTSTRAP_SERVERS", f"localhost:{KAFKA_PORT}", "Kafka bootstrap servers"
)
S3_ENDPOINT_URL = EnvVar(
    "S3_ENDPOINT_URL", f"http://localhost:{MINIO_PORT}", "S3 API endpoint (empty for AWS S3)"
)
AWS_ACCESS_KEY_ID = EnvVar("AWS_ACCESS_KEY_ID", MINIO_ROOT_USER, "S3 access key")
AWS_SECRET_ACCESS_KEY = EnvVar("AWS_SECRET_ACCESS_KEY", MINIO_ROOT_PASSWORD, "S3 secret key")
AWS_REGION = EnvVar("AWS_REGION", "us-east-1", "S3 region")
S3_BUCKET = EnvVar("S3_BUCKET", "files", "bucket holding uploads, thumbnails and quarantine")
FILE_EVENTS_TOPIC = EnvVar("FILE_EVENTS_TOPIC", "file-events", "topic carrying file events")
FILE_NOTIFICATIONS_TOPIC = EnvVar(
    "FILE_NOTIFICATIONS_TOPIC", "file-notifications", "topic carrying per-file notifications"
)
CLAMAV_HOST = EnvVar("CLAMAV_HOST", "localhost", "clamd host")
CLAMAV_PORT_VAR = EnvVar("CLAMAV_PORT", str(CLAMAV_PORT), "clamd TCP port")

FILE_EVENTS_BATCH_SIZE = EnvVar(
    "FILE_EVENTS_BATCH_SIZE", "500", "most events one processing run handles"
)
FILE_EVENTS_SENSOR_INTERVAL = EnvVar(
    "FILE_EVENTS_SENSOR_INTERVAL", "2", "seconds between file_events_sensor ticks"
)
FILE_EVENTS_WAIT_SECONDS = EnvVar(
    "FILE_EVENTS_WAIT_SECONDS",
    "4.5",
    "how long after its start a file_events_sensor tick that found nothing keeps waiting for "
    "the first new event (Dagster starts a sensor tick at most every 5 s); 0: never wait",
)
DEFAULT_RENDITIONS = "thumbnail:250:webp:80,medium:720:webp:80,preview:1440:jpeg:85"
THUMBNAIL_RENDITIONS = EnvVar(
    "THUMBNAIL_RENDITIONS",
    DEFAULT_RENDITIONS,
    "renditions of clean images, PDFs' first pages and videos' poster frames, "
    "name:longest-side:format:quality, comma-separated",
)
VIDEO_POSTER_FRAMES = EnvVar(
    "VIDEO_POSTER_FRAMES",
    "10,50,90",
    "where a video's poster frames are taken, in percent of its duration, comma-separated",
)
VIDEO_WEB_RENDITION_HEIGHT = EnvVar(
    "VIDEO_WEB_RENDITION_HEIGHT",
    "0",
    "height of an H.264 MP4 web rendition of each video, e.g. 720; 0: none (the default)",
)
VIDEO_WEB_RENDITION_MAX_MB = EnvVar(
    "VIDEO_WEB_RENDITION_MAX_MB",
    "200",
    "a web rendition larger than this is not kept and the video's thumbnails stage fails",
)
PROCESSING_WORKERS = EnvVar(
    "PROCESSING_WORKERS",
    "0",
    "worker processes decoding files in a processing run (0: one per core)",
)
FILE_TIME_BUDGET_SECONDS = EnvVar(
    "FILE_TIME_BUDGET_SECONDS",
    "60",
    "wall time one file's decoding and text extraction may take before it is stopped",
)
FILE_MEMORY_BUDGET_MB = EnvVar(
    "FILE_MEMORY_BUDGET_MB",
    "2048",
    "address space of a decoding worker; a file needing more fails alone",
)
SPOOL_DIR = EnvVar(
    "SPOOL_DIR",
    "",
    "where a run keeps the blobs it fetched once for every stage (empty: the system temp dir)",
)
CONCURRENCY_POOLS = EnvVar(
    "CONCURRENCY_POOLS",
    "virus_scan=2,derived_outputs=1",
    "steps of each stage that may run at once across all runs (Dagster concurrency pools)",
)
SWEEP_AFTER_SECONDS = EnvVar(
    "SWEEP_AFTER_SECONDS",
    "900",
    "files still pending, or with a stage missing, this long after upload are processed again",
)
SIGNATURE_CHECK_SECONDS = EnvVar(
    "SIGNATURE_CHECK_SECONDS",
    "300",
    "how often the signature-update rescan asks clamd for its signature database version",
)
RESCAN_WINDOW_DAYS = EnvVar(
    "RESCAN_WINDOW_DAYS",
    "30",
    "files uploaded this many days back are rescanned when the signatures change",
)
SCAN_UNSCANNABLE = EnvVar(
    "SCAN_UNSCANNABLE",
    "failed",
    "what happens to a file clamd could not fully scan (limits, encryption): failed or quarantine",
)

ALL_ENV_VARS: tuple[EnvVar, ...] = (
    DATABASE_URL,
    DAGSTER_PG_URL,
    KAFKA_BOOTSTRAP_SERVERS,
    S3_ENDPOINT_URL,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    AWS_REGION,
    S3_BUCKET,
    FILE_EVENTS_TOPIC,
    FILE_NOTIFICATIONS_TOPIC,
    CLAMAV_HOST,
    CLAMAV_PORT_VAR,
    FILE_EVENTS_BATCH_SIZE,
    FILE_EVENTS_SENSOR_INTERVAL,
    FILE_EVENTS_WAIT_SECONDS,
    THUMBNAIL_RENDITIONS,
    VIDEO_POSTER_FRAMES,
    VIDEO_WEB_RENDITION_HEIGHT,
    VIDEO_WEB_RENDITION_MAX_MB,
    PROCESSING_WORKERS,
    FILE_TIME_BUDGET_SECONDS,
    FILE_MEMORY_BUDGET_MB,
    SPOOL_DIR,
    SCAN_UNSCANNABLE,
    CONCURRENCY_POOLS,
    SWEEP_AFTER_SECONDS,
    SIGNATURE_CHECK_SECONDS,
    RESCAN_WINDOW_DAYS,
)


def pool_limits(text: str) -> dict[str, int]:
    """`pool=limit,...` (the CONCURRENCY_POOLS setting) as a mapping; ValueError if malformed."""
    limits: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        pool, equals, limit = part.partition("=")
        if not equals or not pool.strip() or not limit.strip().isdigit():
            raise ValueError(f"CONCURRENCY_POOLS entry {part!r} is not pool=limit")
        limits[pool.strip()] = int(limit)
    return limits


def dead_letter_topic(events_topic: str) -> str:
    """The dead-letter topic of an events topic (`file-events` -> `file-events.dlq`)."""
    return f"{events_topic}.dlq"
