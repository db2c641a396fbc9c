"""The parsers against the fuzz corpus: damaged files fail (with any exception), never hang.

Every file of `fuzz_corpus` goes through `extract_exif`, `make_renditions` and `extract_text`
(with the content type detected from its bytes, as the pipeline does). A damaged file may make
a parser raise anything: the pipeline records any exception as that file's failure, so no
exception type is asserted here. What is asserted: each call ends within `CALL_LIMIT_SECONDS`,
intact files get every output, and whatever a parser returns can be stored (no NaN, NUL or lone
surrogate, integers within their columns). `run_parsers` returns the per-call outcomes and
`errors_by_mutation` tabulates them, for reports; nothing is printed.
"""

from __future__ import annotations

import faulthandler
import json
import math
import re
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

import pytest

from file_pipeline.processing.exif import extract_exif
from file_pipeline.processing.text_extraction import extract_text
from file_pipeline.processing.thumbnails import make_renditions
from file_pipeline_tests.fuzz_corpus import (
    IMAGE_KINDS,
    KINDS,
    LONG_LINE_BYTES,
    MAX_FILE_BYTES,
    CorpusFile,
    generate_corpus,
)

try:
    from file_pipeline.upload.content_types import detect_content_type
except ImportError:  # moved with the upload code
    from file_pipeline.upload.content_types import (  # type: ignore[no-redef]
        detect_content_type,
    )

SNIFF_BYTES = 8192
CALL_LIMIT_SECONDS = 10.0
# A call still running after this long is a hang: dump every thread's stack and exit, rather
# than leave the test run waiting forever.
HANG_WATCHDOG_SECONDS = 120
MAX_CORPUS_BYTES = 25 * 1024 * 1024
PARSERS = ("extract_exif", "make_renditions", "extract_text")
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Outcome:
    """One parser call on one corpus file."""

    file: CorpusFile
    parser: str
    content_type: str
    seconds: float
    error: str | None
    """The exception raised with its causes, e.g. `...TextExtractionError<-KeyError`; None if
    the call returned."""
    output_size: int
    """EXIF tags read, renditions made (0 if one is empty), or characters of text."""
    storage_problems: tuple[str, ...] = ()
    """What in the returned value PostgreSQL would refuse (see `_storage_problems`)."""


def _error_chain(exc: BaseException) -> str:
    """`Outer<-Cause<-...`, builtins by name and others with their module (`zlib.error`)."""
    names = []
    current: BaseException | None = exc
    while current is not None and len(names) < 5:
        kind = type(current)
        module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
        names.append(f"{module}{kind.__qualname__}")
        current = current.__cause__ or current.__context__
    return "<-".join(names)


def _call(parser: str, data: bytes, content_type: str, name: str) -> tuple[int, list[str]]:
    """The parser's output size, and what of its output could not be stored."""
    if parser == "extract_exif":
        exif = extract_exif(data)
        problems = []
        for column in fields(exif):
            problems += _storage_problems(column.name, getattr(exif, column.name))
        return len(exif.tags), problems
    if parser == "make_renditions":
        renditions = make_renditions(data)
        return len(renditions) if all(rendition.data for rendition in renditions) else 0, []
    result = extract_text(data, content_type, name)
    # A str, or an object carrying it as `.text` (with why it was cut, if it was).
    text = result if isinstance(result, str) else result.text
    return len(text), _storage_problems("text", text)


_SMALLINT_COLUMNS = frozenset({"orientation"})


def _storage_problems(column: str, value: object) -> list[str]:
    """Why PostgreSQL would refuse `value` for a column (TEXT, INTEGER, SMALLINT, DOUBLE
    PRECISION, TIMESTAMP, or JSONB for dicts), judged without a server."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return [f"{column}: not encodable as UTF-8 (lone surrogate)"]
        return [f"{column}: NUL in text"] if "\x00" in value else []
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        limit = 2**15 if column in _SMALLINT_COLUMNS else 2**31
        return [] if -limit <= value < limit else [f"{column}: {value} out of range"]
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{column}: non-finite {value}"]
    if isinstance(value, datetime):
        return [] if value.tzinfo is None else [f"{column}: aware datetime"]
    if isinstance(value, dict):
        try:
            text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            return [f"{column}: not JSON: {exc}"]
        problems = _storage_problems(column, text)
        if re.search(r"(?<!\\)(?:\\\\)*\\u0000", text):
            problems.append(f"{column}: \\u0000 escape, which jsonb refuses")
        return problems
    return [f"{column}: unexpected {type(value).__name__}"]


def run_parsers(files: Sequence[CorpusFile]) -> list[Outcome]:
    """Every parser on every file, timed; exceptions are recorded, never raised."""
    outcomes = []
    for file in files:
        data = file.path.read_bytes()
        content_type = detect_content_type(data[:SNIFF_BYTES], file.path.name)
        for parser in PARSERS:
            faulthandler.dump_traceback_later(HANG_WATCHDOG_SECONDS, exit=True)
            start = time.perf_counter()
            error = None
            size, problems = 0, []
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # Pillow warns about each corrupt tag
                    size, problems = _call(parser, data, content_type, file.path.name)
            except Exception as exc:
                error = _error_chain(exc)
            finally:
                faulthandler.cancel_dump_traceback_later()
            seconds = time.perf_counter() - start
            outcomes.append(
                Outcome(file, parser, content_type, seconds, error, size, tuple(problems))
            )
    return outcomes


def errors_by_mutation(outcomes: Sequence[Outcome]) -> dict[str, Counter[str]]:
    """For each mutation, how often each `parser: error chain` occurred."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for outcome in outcomes:
        if outcome.error is not None:
            table[outcome.file.mutation][f"{outcome.parser}: {outcome.error}"] += 1
    return dict(table)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[CorpusFile]:
    return generate_corpus(tmp_path_factory.mktemp("fuzz_corpus"))


@pytest.fixture(scope="module")
def outcomes(corpus: list[CorpusFile]) -> list[Outcome]:
    return run_parsers(corpus)


def _describe(outcomes: Sequence[Outcome]) -> str:
    return "\n".join(
        f"{o.file.path.name} {o.parser}: {o.error or 'ok'} ({o.seconds:.2f} s)" for o in outcomes
    )


def test_corpus_composition(corpus: list[CorpusFile]) -> None:
    assert len(corpus) >= 240
    assert {file.kind for file in corpus} == set(KINDS)
    assert sum(file.intact for file in corpus) >= 0.2 * len(corpus)
    for kind in KINDS:
        assert any(file.intact and file.kind == kind for file in corpus), kind
    names = [file.path.name for file in corpus]
    assert len(set(names)) == len(names)
    assert all(_SAFE_NAME.match(name) for name in names), names
    sizes = {file.path.name: file.path.stat().st_size for file in corpus}
    oversized = {
        name: size
        for name, size in sizes.items()
        if size >= MAX_FILE_BYTES and not (size == LONG_LINE_BYTES and "long_line" in name)
    }
    assert not oversized
    assert sum(sizes.values()) < MAX_CORPUS_BYTES
    mutations = {file.mutation for file in corpus}
    assert {
        "intact",
        "empty",
        "truncated",
        "bitflip",
        "wrong_header",
        "odd_mode",
        "huge_exif_values",
        "nul_metadata",
        "zero_dimensions_header",
        "huge_dimensions_header",
        "makernote_blob",
        "many_pages",
        "broken_xref",
        "circular_refs",
        "huge_page_count",
        "encrypted",
        "nul_bytes",
        "invalid_utf8",
        "utf16_bom",
        "long_line",
    } <= mutations


def test_corpus_is_deterministic(corpus: list[CorpusFile], tmp_path: Path) -> None:
    again = generate_corpus(tmp_path / "again")
    assert [(f.path.name, f.kind, f.mutation, f.intact) for f in again] == [
        (f.path.name, f.kind, f.mutation, f.intact) for f in corpus
    ]
    differing = [
        first.path.name
        for first, second in zip(corpus, again, strict=True)
        if first.path.read_bytes() != second.path.read_bytes()
    ]
    assert not differing
    other = generate_corpus(tmp_path / "other", seed=7, count=200)
    assert len(other) >= 200
    assert [f.path.name for f in other] != [f.path.name for f in corpus]


def test_every_call_ends_quickly(outcomes: list[Outcome]) -> None:
    slow = [outcome for outcome in outcomes if outcome.seconds >= CALL_LIMIT_SECONDS]
    assert not slow, _describe(slow)


def test_intact_images_get_exif_and_renditions(outcomes: list[Outcome]) -> None:
    failed = [
        outcome
        for outcome in outcomes
        if outcome.file.intact
        and outcome.file.kind in IMAGE_KINDS
        and outcome.parser != "extract_text"
        and (outcome.error is not None or _renditions_missing(outcome))
    ]
    assert not failed, _describe(failed)


def _renditions_missing(outcome: Outcome) -> bool:
    return outcome.parser == "make_renditions" and outcome.output_size == 0


def test_intact_documents_give_text(outcomes: list[Outcome]) -> None:
    failed = [
        outcome
        for outcome in outcomes
        if outcome.file.intact
        and outcome.file.kind in ("pdf", "text")
        and outcome.parser == "extract_text"
        and (outcome.error is not None or outcome.output_size == 0)
    ]
    assert not failed, _describe(failed)


def test_unusual_but_valid_pixel_formats_get_renditions(outcomes: list[Outcome]) -> None:
    """CMYK, 16-bit, 1-bit, LA, float and LAB images are valid: they get renditions too."""
    failed = [
        outcome
        for outcome in outcomes
        if outcome.file.mutation == "odd_mode"
        and outcome.parser in ("extract_exif", "make_renditions")
        and outcome.error is not None
    ]
    assert not failed, _describe(failed)


def test_intact_jpegs_report_their_exif(outcomes: list[Outcome]) -> None:
    missing = [
        outcome
        for outcome in outcomes
        if outcome.file.intact
        and outcome.file.kind == "jpeg"
        and outcome.parser == "extract_exif"
        and outcome.output_size == 0
    ]
    assert not missing, _describe(missing)


def test_every_output_can_be_stored(outcomes: list[Outcome]) -> None:
    """Hostile metadata (NaN rationals, NULs, surrogates, huge integers) never reaches a row."""
    unstorable = [
        f"{outcome.file.path.name} {outcome.parser}: {'; '.join(outcome.storage_problems)}"
        for outcome in outcomes
        if outcome.storage_problems
    ]
    assert not unstorable, "\n".join(unstorable)


def test_exceptions_are_recorded_per_mutation(outcomes: list[Outcome]) -> None:
    table = errors_by_mutation(outcomes)
    empty_images = sum(
        1
        for outcome in outcomes
        if outcome.file.mutation == "empty" and outcome.parser != "extract_text"
    )
    assert sum(table["empty"].values()) == empty_images
    assert all(key.split(": ", 1)[0] in PARSERS for counts in table.values() for key in counts)
