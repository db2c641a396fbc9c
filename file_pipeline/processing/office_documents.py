"""Searchable text from Word (.docx), Excel (.xlsx) and PowerPoint (.pptx) files.

These Office Open XML files are zip packages of XML parts, uploaded by anyone. Before
python-docx, openpyxl or python-pptx sees one, the package is checked from its zip directory
alone (`_check_package`): a zip bomb, a central directory of millions of entries or an XML part
too big to parse in memory is refused before anything is decompressed. zipfile itself never
inflates a member beyond the size the directory declares (it fails the CRC instead), so the
declared sizes are a real bound. The XML is parsed without entity expansion: python-docx and
python-pptx use lxml with `resolve_entities=False` (libxml2 also caps entity amplification), and
openpyxl uses defusedxml, which refuses entity declarations outright.

Like PDF pages in `text_extraction`, extraction is bounded by `max_chars` and by a `deadline` (a
`time.monotonic()` value) checked between paragraphs, slides and every `XLSX_DEADLINE_ROWS`
spreadsheet rows; text cut by a bound is returned with the reason. A file that cannot be read at
all raises TextExtractionError. Opening a package (the libraries parse every part they know at
once) is not interruptible: it is bounded by the package limits instead.

Importing python-docx, openpyxl and python-pptx costs about 45, 120 and 80 ms, so each is
imported on first use.
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from typing import Any

from file_pipeline.processing import applicability
from file_pipeline.processing.normalize import storable_text
from file_pipeline.processing.text_extraction import TextExtractionError
from file_pipeline.upload.content_types import DOCX, OFFICE_TYPES, PPTX, XLSX

MiB = 1024 * 1024
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""Start of an OLE2 compound file: a legacy .doc/.xls/.ppt, or an encrypted OOXML file."""

XLSX_DEADLINE_ROWS = 100
"""The deadline is checked every this many spreadsheet rows."""
EXCEL_MAX_ROWS = 1_048_576
"""Excel's row limit: rows numbered beyond it are not read (openpyxl would fill the gap)."""
MAX_XLSX_ROWS = 2 * EXCEL_MAX_ROWS
"""Rows visited in one workbook, empty ones included, before extraction stops."""

_LABELS = {DOCX: "DOCX", XLSX: "XLSX", PPTX: "PPTX"}
_UNITS = {DOCX: "parts", XLSX: "sheets", PPTX: "slides"}
_MAX_SHOWN = 200  # characters of a member name or error message quoted in a reason

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"

_ZIP_END = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"
_ZIP_END_SIZE = 22
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_END_SIZE = 56


@dataclass(frozen=True)
class PackageLimits:
    """What an Office package's zip directory may declare; beyond it the file is refused.

    The bounds are generous for real documents (whose XML compresses 5-30:1 and whose parts
    number in the hundreds) and small enough that opening a package cannot exhaust a worker.
    """

    max_uncompressed_bytes: int = 200 * MiB
    """Sum of the members' declared sizes: everything the libraries could decompress."""
    max_members: int = 10_000
    max_central_directory_bytes: int = 4 * MiB
    """Checked before zipfile reads the directory, whose parse costs ~4 us per entry."""
    max_ratio: int = 200
    """A member expanding more than this many times its compressed size..."""
    ratio_min_bytes: int = 16 * MiB
    """...is refused when it is also larger than this (small parts of one repeated byte are
    normal)."""
    max_xml_part_bytes: int = 64 * MiB
    """An XML part python-docx or python-pptx parses whole into memory (openpyxl streams its
    worksheets, which are exempt)."""


DEFAULT_PACKAGE_LIMITS = PackageLimits()


def office_text(
    data: bytes,
    media_type: str,
    *,
    filename: str,
    max_chars: int,
    deadline: float | None,
    package_limits: PackageLimits = DEFAULT_PACKAGE_LIMITS,
) -> tuple[str, str | None]:
    """(text, partial reason or None) of a DOCX, XLSX or PPTX file.

    The text is storable (`storable_text`) and at most `max_chars` characters; the reason says
    what was left out ("text cut at N characters", "stopped after K of N slides: time budget
    spent", "1 of 3 sheets could not be read, first sheet 2: ..."). Raises TextExtractionError
    for a file that cannot be read at all: not a zip archive, an encrypted or legacy (OLE2)
    Office file, a zip bomb, a package without its main part, or anything the library raises on
    malformed input. `package_limits` bounds what the zip may declare (tests pass small ones).
    MemoryError is re-raised as is. ValueError if `media_type` is not one of OFFICE_TYPES.
    """
    media_type = applicability.media_type(media_type)
    if media_type not in OFFICE_TYPES:
        raise ValueError(f"{media_type!r} is not one of {sorted(OFFICE_TYPES)}")
    label = _LABELS[media_type]

    def failure(reason: str) -> TextExtractionError:
        return TextExtractionError(reason, filename=filename, content_type=media_type)

    _check_package(data, media_type, package_limits, failure)
    if max_chars <= 0:
        return "", None
    collector = _Collector(max_chars)
    extract = {DOCX: _docx_text, XLSX: _xlsx_text, PPTX: _pptx_text}[media_type]
    try:
        stopped = extract(data, collector, deadline)
    except MemoryError:
        raise
    except Exception as exc:
        raise failure(f"corrupt {label}: {_describe(exc)}") from exc

    if not collector.pieces and collector.failures:
        unit, exc = collector.failures[0]
        raise failure(
            f"corrupt {label}: none of its {_UNITS[media_type]} could be read "
            f"({unit}: {_describe(exc)})"
        ) from exc
    text = storable_text("\n".join(collector.pieces))
    partial = stopped
    if len(text) > max_chars:
        text = text[:max_chars]
        partial = partial or f"text cut at {max_chars} characters"
    if partial is None and collector.failures:
        unit, exc = collector.failures[0]
        partial = (
            f"{len(collector.failures)} of {collector.units} {_UNITS[media_type]} could not be "
            f"read, first {unit}: {_describe(exc)}"
        )
    return text, partial


def _check_package(
    data: bytes,
    media_type: str,
    limits: PackageLimits,
    failure: Callable[[str], TextExtractionError],
) -> None:
    """Refuse a package that is not a zip, or whose zip directory declares too much.

    Only the directory is read: nothing is decompressed. `failure` makes the exception raised.
    """
    label = _LABELS[media_type]
    if data.startswith(OLE2_MAGIC):
        raise failure(
            f"encrypted or legacy Office file: an OLE2 compound document, not an Office Open XML "
            f"{label} package (a password-protected file, or an old .doc/.xls/.ppt renamed)"
        )
    directory_size = _central_directory_size(data)
    if directory_size is not None and directory_size > limits.max_central_directory_bytes:
        raise failure(
            f"refused {label}: zip central directory of {directory_size} bytes, more than "
            f"{limits.max_central_directory_bytes} (too many members)"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except MemoryError:
        raise
    except Exception as exc:
        raise failure(f"corrupt {label}: not a zip archive ({_describe(exc)})") from exc

    if len(members) > limits.max_members:
        raise failure(
            f"refused {label}: {len(members)} zip members, more than {limits.max_members}"
        )
    total = sum(member.file_size for member in members)
    if total > limits.max_uncompressed_bytes:
        raise failure(
            f"refused {label}: zip bomb: its members declare {total} bytes uncompressed, more "
            f"than {limits.max_uncompressed_bytes}"
        )
    for member in members:
        size = member.file_size
        if size > limits.ratio_min_bytes and size > limits.max_ratio * max(member.compress_size, 1):
            ratio = size // max(member.compress_size, 1)
            raise failure(
                f"refused {label}: zip bomb: member {_shown(member.filename)} expands {ratio}:1 "
                f"to {size} bytes (limit {limits.max_ratio}:1 above {limits.ratio_min_bytes})"
            )
        if (
            size > limits.max_xml_part_bytes
            and member.filename.lower().endswith((".xml", ".rels"))
            and not (media_type == XLSX and member.filename.startswith("xl/worksheets/"))
        ):
            raise failure(
                f"refused {label}: XML part {_shown(member.filename)} is {size} bytes "
                f"uncompressed, more than the {limits.max_xml_part_bytes} parsed in memory"
            )
    if not any(member.filename == "[Content_Types].xml" for member in members):
        raise failure(
            f"corrupt {label}: no [Content_Types].xml: a zip archive but not an Office Open XML "
            "package"
        )


class _Collector:
    """Pieces of text up to a character budget, and the units (sheets, slides, parts) that
    could not be read."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.pieces: list[str] = []
        self.length = -1  # of the pieces joined by newlines
        self.units = 0
        self.failures: list[tuple[str, Exception]] = []

    @property
    def full(self) -> bool:
        return self.length > self.max_chars

    def add(self, text: str) -> bool:
        """Keep `text` unless it is blank; True once more than `max_chars` are kept."""
        if text and not text.isspace():
            self.pieces.append(text)
            self.length += len(text) + 1
        return self.full

    def fail(self, unit: str, exc: Exception) -> None:
        self.failures.append((unit, exc))


@dataclass(frozen=True)
class _Vocabulary:
    """How one XML dialect writes paragraphs and their text."""

    paragraph: str
    text: frozenset[str]
    characters: Mapping[str, str]
    """Empty elements that stand for a character (a tab, a line break)."""
    skip: frozenset[str]
    """Subtrees never read: duplicates (a Fallback repeats its Choice) and properties (tab
    stops are `w:tab` elements too)."""


_WORD = _Vocabulary(
    paragraph=f"{_W}p",
    text=frozenset({f"{_W}t"}),
    characters={
        f"{_W}tab": "\t",
        f"{_W}ptab": "\t",
        f"{_W}br": "\n",
        f"{_W}cr": "\n",
        f"{_W}noBreakHyphen": "-",
    },
    skip=frozenset({_MC_FALLBACK, f"{_W}pPr", f"{_W}rPr"}),
)
_DRAWING = _Vocabulary(
    paragraph=f"{_A}p",
    text=frozenset({f"{_A}t"}),
    characters={f"{_A}br": "\n"},
    skip=frozenset({_MC_FALLBACK, f"{_A}pPr", f"{_A}rPr"}),
)


def _paragraphs(root: Any, vocabulary: _Vocabulary) -> Iterator[str]:
    """Text of every paragraph under `root`, in document order, table cells included.

    One pass over the tree without recursion. A paragraph nested in another (a text box in a
    Word run) is its own paragraph and comes before the one holding it.
    """
    from lxml import etree

    open_paragraphs: list[list[str]] = []
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = element.tag
        if event == "end":
            if tag == vocabulary.paragraph and open_paragraphs:
                yield "".join(open_paragraphs.pop())
        elif tag == vocabulary.paragraph:
            open_paragraphs.append([])
        elif tag in vocabulary.skip:
            walker.skip_subtree()
        elif open_paragraphs:
            if tag in vocabulary.text:
                open_paragraphs[-1].append(element.text or "")
            else:
                character = vocabulary.characters.get(tag)
                if character is not None:
                    open_paragraphs[-1].append(character)


def _expired(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


def _docx_text(data: bytes, collector: _Collector, deadline: float | None) -> str | None:
    """Body paragraphs (table cells included) in order, then headers, footers, footnotes,
    endnotes and comments. Returns why it stopped early, if it did."""
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml.parser import parse_xml

    document = docx.Document(io.BytesIO(data))
    body = document.element.body
    count = 0
    collector.units = 1
    if body is not None:
        for paragraph in _paragraphs(body, _WORD):
            if _expired(deadline):
                return f"stopped after {count} paragraphs: time budget spent"
            count += 1
            if collector.add(paragraph):
                return None

    extra_types = (RT.HEADER, RT.FOOTER, RT.FOOTNOTES, RT.ENDNOTES, RT.COMMENTS)
    seen: set[str] = set()
    for relationship in list(document.part.rels.values()):
        if relationship.is_external or relationship.reltype not in extra_types:
            continue
        if _expired(deadline):
            return f"stopped after the body's {count} paragraphs: time budget spent"
        try:
            part = relationship.target_part
            if part.partname in seen:
                continue
            seen.add(part.partname)
            collector.units += 1
            element = getattr(part, "element", None)
            root = element if element is not None else parse_xml(part.blob)
            for paragraph in _paragraphs(root, _WORD):
                if collector.add(paragraph):
                    return None
        except MemoryError:
            raise
        except Exception as exc:
            collector.fail(f"part {_shown(str(relationship.target_ref))}", exc)
    return None


def _xlsx_text(data: bytes, collector: _Collector, deadline: float | None) -> str | None:
    """The sheet names, then each worksheet's non-empty cells: tab-separated values, one row a
    line. Returns why it stopped early, if it did."""
    import openpyxl

    workbook = openpyxl.load_workbook(
        io.BytesIO(data), read_only=True, data_only=True, keep_links=False
    )
    try:
        if collector.add("\t".join(str(name) for name in workbook.sheetnames)):
            return None
        sheets = workbook.worksheets
        collector.units = len(sheets)
        visited = 0
        for number, sheet in enumerate(sheets, start=1):
            if _expired(deadline):
                return f"stopped after {number - 1} of {len(sheets)} sheets: time budget spent"
            try:
                # The declared dimensions can claim a million columns or rows that do not exist.
                sheet.reset_dimensions()
                for row in sheet.iter_rows(max_row=EXCEL_MAX_ROWS, values_only=True):
                    visited += 1
                    if visited % XLSX_DEADLINE_ROWS == 0 and _expired(deadline):
                        return (
                            f"stopped in sheet {number} of {len(sheets)}, after {visited} rows "
                            "in all: time budget spent"
                        )
                    if visited > MAX_XLSX_ROWS:
                        return f"stopped after {MAX_XLSX_ROWS} rows"
                    line = "\t".join(text for text in map(_cell_text, row) if text)
                    if line and collector.add(line):
                        return None
            except MemoryError:
                raise
            except Exception as exc:
                collector.fail(f"sheet {number}", exc)
        return None
    finally:
        workbook.close()


def _cell_text(value: object) -> str | None:
    """A cell value as searchable text: strings, numbers and dates; None for empty cells and
    booleans (TRUE/FALSE are not worth finding)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (datetime, date, time_of_day)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _pptx_text(data: bytes, collector: _Collector, deadline: float | None) -> str | None:
    """Per slide, the text of every shape (groups and table cells included), then its notes.
    Returns why it stopped early, if it did."""
    import pptx

    presentation = pptx.Presentation(io.BytesIO(data))
    slides = presentation.slides
    total = len(slides)
    collector.units = total
    for index in range(total):
        if _expired(deadline):
            return f"stopped after {index} of {total} slides: time budget spent"
        try:
            slide = slides[index]
            for paragraph in _paragraphs(slide.element, _DRAWING):
                if collector.add(paragraph):
                    return None
            if slide.has_notes_slide:
                notes = slide.notes_slide.notes_placeholder
                if notes is not None:
                    for paragraph in _paragraphs(notes.element, _DRAWING):
                        if collector.add(paragraph):
                            return None
        except MemoryError:
            raise
        except Exception as exc:
            collector.fail(f"slide {index + 1}", exc)
    return None


def _central_directory_size(data: bytes) -> int | None:
    """The size of the zip central directory zipfile would read, or None without an end record.

    Follows zipfile's own search (an end record at the very end, else the last one within a
    comment's reach, then the ZIP64 record located just before it), so what is checked here is
    what zipfile then parses.
    """
    end = len(data) - _ZIP_END_SIZE
    if end < 0:
        return None
    if data[end : end + 4] == _ZIP_END and data[-2:] == b"\0\0":
        start = end
    else:
        start = data.rfind(_ZIP_END, max(end - (1 << 16), 0))
        if start < 0 or start > end:
            return None
    (size,) = struct.unpack_from("<L", data, start + 12)
    locator = start - _ZIP64_LOCATOR_SIZE
    if locator >= 0 and data[locator : locator + 4] == _ZIP64_LOCATOR:
        record = locator - _ZIP64_END_SIZE
        if record < 0 or data[record : record + 4] != _ZIP64_END:
            return None  # zipfile refuses it
        (size,) = struct.unpack_from("<Q", data, record + 40)
    return int(size)


def _describe(exc: BaseException) -> str:
    """`Type: message`, then the exception it was raised from (openpyxl wraps the XML parser's
    error in a generic ValueError). Made storable, on one line and short: messages can quote
    the hostile input."""
    described = _one_exception(exc)
    cause = exc.__cause__
    for _ in range(8):  # the innermost of a short chain
        if cause is None or cause.__cause__ is None:
            break
        cause = cause.__cause__
    if cause is not None:
        described += f" (from {_one_exception(cause)})"
    return described


def _one_exception(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:
        message = ""
    shown = " ".join(storable_text(message, max_chars=_MAX_SHOWN + 1).split())
    if len(shown) > _MAX_SHOWN:
        shown = shown[:_MAX_SHOWN] + "..."
    return f"{type(exc).__name__}: {shown}" if shown else type(exc).__name__


def _shown(name: str) -> str:
    """A member name quoted for a message: storable and short."""
    shown = storable_text(name, max_chars=_MAX_SHOWN + 1)
    if len(shown) > _MAX_SHOWN:
        shown = shown[:_MAX_SHOWN] + "..."
    return repr(shown)
