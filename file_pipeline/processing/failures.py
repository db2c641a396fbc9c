"""The one place that decides whether an error is an outage or one file's failure.

Untrusted files break libraries in ways no list foresees, so the rule is by classification, not
by enumeration of what a file can do wrong:
- an **outage** is a dependency that did not answer or refuses everyone (PostgreSQL's connection
  lost or the server shutting down, the object store unreachable, throttling or failing, clamd
  silent, Kafka down, the local disk full): the run fails so Dagster retries it, and the file is
  left as it was, never recorded as failed;
- **anything else** raised while handling one file (a decoder error, a value the database
  refuses for that row, a blob that is missing, a library bug, MemoryError or RecursionError on a
  hostile file) is that file's failure, recorded with its reason and exception type, and the
  batch goes on.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

import psycopg
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.exceptions import ConnectionError as BotoConnectionError
from confluent_kafka import KafkaException

from file_pipeline.errors import DependencyUnavailableError, ObjectStoreError

# SQLSTATE classes meaning the server, not the row: connection exception (08), insufficient
# resources (53: disk full, out of memory, too many connections), operator intervention (57P:
# admin/crash shutdown, cannot connect now), system error (58).
_POSTGRES_OUTAGE_SQLSTATES = ("08", "53", "57P", "58")
# S3 error codes that mean the store (or our access to it), not the object.
_STORE_OUTAGE_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "NoSuchBucket",
        "XMinioServerNotInitialized",
        "XMinioStorageFull",
    }
)
_LOCAL_OUTAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EMFILE, errno.ENFILE})


@dataclass(frozen=True)
class Classified:
    """An error, classified: `outage` names the dependency when it is one."""

    outage: str | None
    reason: str
    error_type: str

    @property
    def is_outage(self) -> bool:
        return self.outage is not None


def classify(exc: BaseException) -> Classified:
    """Outage (with the dependency's name) or this file's failure, for any exception."""
    dependency = _outage_of(exc)
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return Classified(dependency, reason[:2000], _type_name(exc))


def _outage_of(exc: BaseException) -> str | None:
    if isinstance(exc, DependencyUnavailableError):
        return exc.dependency
    if isinstance(exc, ObjectStoreError):
        return "object store" if _store_outage(exc.cause) else None
    if isinstance(exc, (BotoCoreError, ClientError)):
        return "object store" if _store_outage(exc) else None
    if isinstance(exc, psycopg.Error):
        return "PostgreSQL" if _postgres_outage(exc) else None
    if isinstance(exc, KafkaException):
        return "Kafka"
    if isinstance(exc, OSError) and exc.errno in _LOCAL_OUTAGE_ERRNOS:
        return "local disk"
    cause = exc.__cause__
    if cause is not None and cause is not exc and isinstance(cause, DependencyUnavailableError):
        return cause.dependency
    return None


def _postgres_outage(exc: psycopg.Error) -> bool:
    if isinstance(exc, psycopg.InterfaceError):
        return True  # the client's connection is unusable (closed, broken)
    sqlstate = exc.sqlstate
    if sqlstate is None:
        # No answer from the server at all: connect failed, connection lost mid-query.
        return isinstance(exc, psycopg.OperationalError)
    return sqlstate.startswith(_POSTGRES_OUTAGE_SQLSTATES)


def _store_outage(exc: BaseException) -> bool:
    if isinstance(exc, BotoConnectionError):
        return True  # endpoint unreachable, connect/read timeout, connection closed
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error.get("Code") in _STORE_OUTAGE_CODES or int(status) >= 500
    # Credentials missing, retries exhausted, a response cut off; not a request we built wrong.
    return isinstance(exc, BotoCoreError) and not isinstance(exc, ParamValidationError)


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    if kind.__module__ in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"
