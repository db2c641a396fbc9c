"""file_pipeline: an event-driven file pipeline on Dagster (MinIO/S3, PostgreSQL, Kafka)."""

__version__ = "0.1.0"
