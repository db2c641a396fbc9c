"""Outage or this file's failure: every branch of `classify`, with the libraries' own errors."""

import errno

import psycopg
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from confluent_kafka import KafkaError, KafkaException

from file_pipeline.errors import (
    ImageProcessingError,
    KafkaUnavailableError,
    ObjectStoreError,
)
from file_pipeline.processing.failures import classify
from file_pipeline.processing.scanning import ScanError, ScannerUnavailableError
from file_pipeline.processing.text_extraction import TextExtractionError


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


def _postgres(sqlstate: str) -> psycopg.Error:
    return psycopg.errors.lookup(sqlstate)(f"server said {sqlstate}")


OUTAGES = [
    # PostgreSQL: no answer, a broken connection, or the server itself in trouble.
    (psycopg.OperationalError("connection failed: Connection refused"), "PostgreSQL"),
    (psycopg.InterfaceError("the connection is closed"), "PostgreSQL"),
    (_postgres("57P01"), "PostgreSQL"),  # admin_shutdown
    (_postgres("08006"), "PostgreSQL"),  # connection_failure
    (_postgres("53100"), "PostgreSQL"),  # disk_full
    (_postgres("53300"), "PostgreSQL"),  # too_many_connections
    # The object store unreachable, slow, failing, or refusing everyone.
    (EndpointConnectionError(endpoint_url="http://localhost:9000"), "object store"),
    (ConnectTimeoutError(endpoint_url="http://localhost:9000"), "object store"),
    (ReadTimeoutError(endpoint_url="http://localhost:9000"), "object store"),
    (NoCredentialsError(), "object store"),
    (_client_error("SlowDown", 503), "object store"),
    (_client_error("InternalError", 500), "object store"),
    (_client_error("AccessDenied", 403), "object store"),
    (_client_error("NoSuchBucket", 404), "object store"),
    (ObjectStoreError("get", "k", EndpointConnectionError(endpoint_url="x")), "object store"),
    # clamd silent, Kafka down, the local disk full.
    (ScannerUnavailableError("localhost", 3310, "INSTREAM", "timed out"), "clamd"),
    (KafkaException(KafkaError(KafkaError._TRANSPORT)), "Kafka"),
    (KafkaUnavailableError("reading offsets", "timed out"), "Kafka"),
    (OSError(errno.ENOSPC, "No space left on device"), "local disk"),
]

FILE_FAILURES = [
    # A value the database refuses for this row, not the database.
    (_postgres("22P05"), "UntranslatableCharacter"),  # NUL in text
    (_postgres("22003"), "NumericValueOutOfRange"),  # a number too big for its column
    (_postgres("23505"), "UniqueViolation"),
    (_postgres("54000"), "ProgramLimitExceeded"),  # an index row too large
    (_postgres("57014"), "QueryCanceled"),  # this row's statement timed out
    # This object, not the store.
    (_client_error("NoSuchKey", 404), "ClientError"),
    (ObjectStoreError("get", "k", _client_error("NoSuchKey", 404)), "ObjectStoreError"),
    (ParamValidationError(report="key too long"), "ParamValidationError"),
    # clamd answered about this file.
    (ScanError("localhost", 3310, "INSTREAM size limit exceeded. ERROR"), "ScanError"),
    # Decoders and parsers on hostile bytes, expected or not.
    (ImageProcessingError("corrupt image: broken data stream"), "ImageProcessingError"),
    (
        TextExtractionError("corrupt PDF", filename="x.pdf", content_type="application/pdf"),
        "TextExtractionError",
    ),
    (ValueError("Invalid dimensions"), "ValueError"),
    (ZeroDivisionError("division by zero"), "ZeroDivisionError"),
    (RecursionError("maximum recursion depth exceeded"), "RecursionError"),
    (MemoryError(), "MemoryError"),
    (AttributeError("'NullObject' object has no attribute 'get'"), "AttributeError"),
    (OSError(errno.EIO, "image file is truncated"), "OSError"),
    (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), "UnicodeEncodeError"),
]


@pytest.mark.parametrize(("error", "dependency"), OUTAGES)
def test_dependency_outages_fail_the_run(error: BaseException, dependency: str) -> None:
    classified = classify(error)
    assert classified.is_outage
    assert classified.outage == dependency


@pytest.mark.parametrize(("error", "type_name"), FILE_FAILURES)
def test_anything_else_is_that_files_failure(error: BaseException, type_name: str) -> None:
    classified = classify(error)
    assert not classified.is_outage
    assert type_name in classified.error_type
    assert classified.reason


def test_a_wrapped_outage_is_still_an_outage() -> None:
    try:
        try:
            raise ScannerUnavailableError("localhost", 3310, "INSTREAM", "Connection refused")
        except ScannerUnavailableError as cause:
            raise RuntimeError("scan failed") from cause
    except RuntimeError as error:
        assert classify(error).outage == "clamd"


def test_reasons_are_one_line_and_bounded() -> None:
    classified = classify(ValueError("line one\nline two\t" + "x" * 5000))
    assert "\n" not in classified.reason
    assert classified.reason.startswith("line one line two")
    assert len(classified.reason) <= 2000
    assert classify(MemoryError()).reason == "MemoryError"
