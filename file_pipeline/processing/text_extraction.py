"""Searchable text from a file's bytes: plain text, Markdown, CSV, JSON, PDF (pypdf), and Word,
Excel and PowerPoint (`office_documents`).

The result goes into a PostgreSQL text column for full-text search, so it is made storable (no
NUL, no lone surrogates) and bounded: at most `max_chars` characters, `max_pdf_pages` pages, and
a wall-time deadline checked between pages. Text cut by a bound is returned with the reason, so
the stage can record the file as `partial`. Types without an extractor give "": the caller
indexes the filename (see `searchable_filename`) for every file anyway.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from file_pipeline.errors import FilePipelineError
from file_pipeline.processing import applicability
from file_pipeline.processing.normalize import storable_text
from file_pipeline.processing.versions import TextLimits
from file_pipeline.upload.content_types import OFFICE_TYPES

DEFAULT_LIMITS = TextLimits()

# Larger JSON documents are indexed as raw text: parsing them would cost far more than the cap.
MAX_JSON_BYTES = 20 * 1024 * 1024
_PLAIN_TYPES = frozenset({"text/plain", "text/markdown", "text/csv"})
_FILENAME_SEPARATORS = re.compile(r"[\s_.\-]+")


class TextExtractionError(FilePipelineError):
    """A file's text could not be extracted (corrupt or password-protected PDF)."""

    def __init__(self, reason: str, *, filename: str, content_type: str) -> None:
        self.reason = reason
        self.filename = filename
        self.content_type = content_type
        super().__init__(f"{filename!r} ({content_type}): {reason}")


@dataclass(frozen=True)
class ExtractedText:
    text: str
    partial: str | None = None
    """Why only part of the file's text was kept (a page, size or time bound), if it was cut."""


def extract_text(
    data: bytes,
    content_type: str,
    filename: str,
    limits: TextLimits = DEFAULT_LIMITS,
    *,
    deadline: float | None = None,
) -> ExtractedText:
    """The text of a file, bounded by `limits` and by `deadline` (a `time.monotonic()` value).

    `content_type` is the one detected from the bytes (parameters such as `; charset=` are
    ignored: text is decoded as UTF-8, or UTF-16 when it starts with a UTF-16 byte-order mark).
    CSV and Markdown are indexed as their raw text. Raises TextExtractionError for a PDF that
    cannot be read at all (corrupt, password-protected).
    """
    max_chars = limits.max_chars
    if max_chars <= 0:
        return ExtractedText("")
    media_type = applicability.media_type(content_type)
    partial: str | None = None
    if media_type in _PLAIN_TYPES:
        text = _decode(data, max_chars)
    elif media_type == "application/json":
        text = _json_text(data, max_chars)
    elif media_type == applicability.PDF:
        text, partial = _pdf_text(
            data, limits, deadline, filename=filename, content_type=media_type
        )
    elif media_type in OFFICE_TYPES:
        from file_pipeline.processing.office_documents import office_text

        text, partial = office_text(
            data, media_type, filename=filename, max_chars=max_chars, deadline=deadline
        )
    else:
        return ExtractedText("")
    text = storable_text(text)
    if len(text) > max_chars:
        text = text[:max_chars]
        partial = partial or f"text cut at {max_chars} characters"
    return ExtractedText(text, partial)


def has_text_extractor(content_type: str | None) -> bool:
    """Whether `extract_text` reads anything from files of this type."""
    media_type = applicability.media_type(content_type)
    return (
        media_type in _PLAIN_TYPES
        or media_type in ("application/json", applicability.PDF)
        or media_type in OFFICE_TYPES
    )


def searchable_filename(filename: str) -> str:
    """The filename as words: `quarterly-report_2024.pdf` -> `quarterly report 2024 pdf`.

    Separators (`_`, `-`, `.`, whitespace) become single spaces, so each part of the name, the
    extension included, is a word full-text search can match. Control characters are dropped.
    """
    visible = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf") else ch
        for ch in unicodedata.normalize("NFC", filename)
    )
    return _FILENAME_SEPARATORS.sub(" ", visible).strip()


def _decode(data: bytes, max_chars: int) -> str:
    """UTF-8 (or BOM-marked UTF-16) text of the bytes that can hold `max_chars` characters.

    A character takes at most 4 bytes, so only that prefix is decoded, however big the file.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data[: 4 * max_chars + 4].decode("utf-16", errors="replace")
    return data[: 4 * max_chars + 4].decode("utf-8-sig", errors="replace")


def _json_text(data: bytes, max_chars: int) -> str:
    """Keys (each once) and scalar values in document order, one per line.

    Invalid or very large JSON falls back to the raw text, which still holds every word.
    """
    if len(data) > MAX_JSON_BYTES:
        return _decode(data, max_chars)
    try:
        document = json.loads(data.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError):
        return _decode(data, max_chars)
    parts: list[str] = []
    size = 0
    for part in _json_words(document):
        cleaned = part.replace("\x00", "").strip()
        if not cleaned:
            continue
        parts.append(cleaned)
        size += len(cleaned) + 1
        if size > max_chars:
            break
    return "\n".join(parts)


def _json_words(document: Any) -> Iterator[str]:
    """Depth-first walk without recursion, so deeply nested documents cannot overflow the stack."""
    seen_keys: set[str] = set()
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            children: list[Any] = []
            for key, value in node.items():
                if key not in seen_keys:
                    seen_keys.add(key)
                    children.append(key)
                children.append(value)
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, str):
            yield node
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            yield str(node)


def _pdf_text(
    data: bytes,
    limits: TextLimits,
    deadline: float | None,
    *,
    filename: str,
    content_type: str,
) -> tuple[str, str | None]:
    """Text of the first pages; a page pypdf cannot read is skipped, not fatal.

    Any error opening the document is this file's failure (TextExtractionError naming the
    exception): malformed PDFs make pypdf raise far more than its own errors.
    """

    def failure(reason: str) -> TextExtractionError:
        return TextExtractionError(reason, filename=filename, content_type=content_type)

    from pypdf import PasswordType, PdfReader  # here: the run's process never loads pypdf

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise failure("encrypted PDF: a password is needed to read it")
        page_count = len(reader.pages)
    except TextExtractionError:
        raise
    except Exception as exc:
        raise failure(f"corrupt PDF: {type(exc).__name__}: {exc}") from exc
    if page_count == 0:
        raise failure("corrupt PDF: no pages")

    texts: list[str] = []
    size = 0
    failed_pages = 0
    last_error: Exception | None = None
    partial: str | None = None
    pages = min(page_count, limits.max_pdf_pages)
    for index in range(pages):
        if deadline is not None and time.monotonic() > deadline:
            partial = f"stopped after {index} of {page_count} pages: time budget spent"
            break
        try:
            page_text = reader.pages[index].extract_text() or ""
        except Exception as exc:
            failed_pages += 1
            last_error = exc
            continue
        texts.append(page_text)
        size += len(page_text) + 1
        if size > limits.max_chars:
            break
    else:
        if page_count > pages:
            partial = f"first {pages} of {page_count} pages"
    if not texts and last_error is not None:
        raise failure(
            f"corrupt PDF: none of {failed_pages} pages could be read "
            f"({type(last_error).__name__}: {last_error})"
        ) from last_error
    return "\n".join(texts), partial
