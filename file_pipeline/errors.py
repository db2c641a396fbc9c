"""Typed errors. Each carries the context a person needs to act on it.

Two families matter to processing: `DependencyUnavailableError` (a service the pipeline needs is
out: the run fails so Dagster retries it) and everything about one file (recorded as that file's
failure). `file_pipeline.processing.failures.classify` decides which is which.
"""

from __future__ import annotations


class FilePipelineError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidEventError(FilePipelineError):
    """A Kafka message is not a valid file event (bad JSON, missing or mistyped fields)."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)


class InvalidUploadError(FilePipelineError):
    """An upload request or one of its files cannot be accepted (missing path, bad user name...)."""

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)


class DependencyUnavailableError(FilePipelineError):
    """A service the pipeline depends on (PostgreSQL, the object store, clamd, Kafka) did not
    answer or refused everyone: no file is to blame, the work is to be retried."""

    dependency = "a dependency"

    def __init__(self, operation: str, cause: BaseException | str) -> None:
        self.operation = operation
        self.cause = cause
        super().__init__(f"{self.dependency} unavailable while {operation}: {cause}")


class KafkaUnavailableError(DependencyUnavailableError):
    dependency = "Kafka"


class TopicNotFoundError(FilePipelineError):
    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} does not exist (run `file-pipeline db migrate`)")
        self.topic = topic


class ObjectStoreError(FilePipelineError):
    """The object store (MinIO/S3) refused an operation or could not be reached.

    `cause` is the boto exception; whether it is an outage or this object's problem (a missing
    key) is decided by `file_pipeline.processing.failures.classify`.
    """

    def __init__(self, operation: str, key: str | None, cause: BaseException) -> None:
        self.operation = operation
        self.key = key
        self.cause = cause
        where = f" s3 key {key!r}" if key else ""
        super().__init__(f"object store {operation} failed{where}: {cause}")


class EventPublishError(FilePipelineError):
    """Kafka did not acknowledge one or more messages."""


class ImageProcessingError(FilePipelineError):
    """An image could not be decoded or is unsafe to decode (corrupt, decompression bomb)."""


class SchemaOutOfDateError(FilePipelineError):
    """The application database's schema is older than this code needs."""

    def __init__(self, database: str, applied: int, needed: int) -> None:
        self.applied = applied
        self.needed = needed
        super().__init__(
            f"database {database} has schema version {applied}, this code needs {needed}: run "
            "`file-pipeline db migrate`"
        )


class CodeServerError(FilePipelineError):
    """The gRPC code server started for a daemon exited or did not listen in time."""
