"""Dagster resources: typed, EnvVar-configured, lazy clients for S3/MinIO, PostgreSQL, Kafka and
clamd, and the processing settings."""

from file_pipeline.resources.clamav import ClamAVResource
from file_pipeline.resources.kafka import KafkaResource
from file_pipeline.resources.postgres import PostgresResource
from file_pipeline.resources.processing import ProcessingResource
from file_pipeline.resources.storage import ObjectStorageResource

__all__ = [
    "ClamAVResource",
    "KafkaResource",
    "ObjectStorageResource",
    "PostgresResource",
    "ProcessingResource",
]
