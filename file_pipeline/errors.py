"""Typed errors. Each carries the context a person needs to act on it."""

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


class ObjectStoreError(FilePipelineError):
    """The object store (MinIO/S3) refused or could not be reached."""

    def __init__(self, operation: str, key: str | None, cause: BaseException) -> None:
        self.operation = operation
        self.key = key
        self.cause = cause
        where = f" s3 key {key!r}" if key else ""
        super().__init__(f"object store {operation} failed{where}: {cause}")


class EventPublishError(FilePipelineError):
    """Kafka did not acknowledge one or more events."""


class ImageProcessingError(FilePipelineError):
    """An image could not be decoded or is unsafe to decode (corrupt, decompression bomb)."""
