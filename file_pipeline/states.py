"""The words the pipeline uses for where a file stands: its status, the processing stages, each
stage's outcome, and the kinds of sensitive data its text is flagged for. The database's CHECK
constraints, the CLI, the asset metadata and the README use these same values.
"""

from __future__ import annotations

from enum import Enum


class FileStatus(str, Enum):
    """`files.status`: the virus scan's verdict, or that the file was deleted."""

    PENDING = "pending"
    """Not scanned yet, or the scanner gave no verdict (fail closed: never treated as clean)."""
    CLEAN = "clean"
    INFECTED = "infected"
    FAILED = "failed"
    """Cannot be scanned (over a scanner limit, encrypted, blob missing or changed)."""
    DELETED = "deleted"


class Stage(str, Enum):
    """A processing stage: one asset, one row per file in `processing_results`."""

    VIRUS_SCAN = "virus_scan"
    EXIF_METADATA = "exif_metadata"
    THUMBNAILS = "thumbnails"
    SEARCH_INDEX = "search_index"
    NOTIFICATIONS = "notifications"

    @classmethod
    def derived(cls) -> tuple[Stage, ...]:
        """The stages computed from a clean file's bytes, after the scan."""
        return (cls.EXIF_METADATA, cls.THUMBNAILS, cls.SEARCH_INDEX)

    @classmethod
    def parse(cls, names: list[str] | tuple[str, ...]) -> tuple[Stage, ...]:
        """Stages by name, in pipeline order; ValueError names what is unknown."""
        unknown = sorted(set(names) - {stage.value for stage in cls})
        if unknown:
            known = ", ".join(stage.value for stage in cls)
            raise ValueError(f"unknown stage(s) {', '.join(unknown)} (known: {known})")
        return tuple(stage for stage in cls if stage.value in names)


class Outcome(str, Enum):
    """What one stage did for one file (`processing_results.outcome`)."""

    DONE = "done"
    PARTIAL = "partial"
    """Done within a budget: part of the output (e.g. the first pages' text) was kept."""
    SKIPPED = "skipped"
    FAILED = "failed"


class NotificationKind(str, Enum):
    """What the owner of a file is told (`notifications.kind`)."""

    PROCESSED = "processed"
    FAILED = "failed"
    INFECTED = "infected"
    DELETED = "deleted"


class SensitiveKind(str, Enum):
    """A kind of sensitive data counted in a file's text (`files.sensitive_data` keys)."""

    EMAIL = "email"
    PHONE = "phone"
    PAYMENT_CARD = "payment_card"
    IBAN = "iban"
    NATIONAL_ID = "national_id"

    @property
    def noun(self) -> str:
        """What one of them is called in a sentence to a person."""
        return _SENSITIVE_NOUNS[self]


_SENSITIVE_NOUNS = {
    SensitiveKind.EMAIL: "e-mail address",
    SensitiveKind.PHONE: "phone number",
    SensitiveKind.PAYMENT_CARD: "payment card number",
    SensitiveKind.IBAN: "IBAN",
    SensitiveKind.NATIONAL_ID: "national id number",
}
