"""Untrusted metadata turned into values PostgreSQL and JSON can always hold.

EXIF tags, PDF metadata and extracted text come from files uploaded by anyone. They can hold NUL
characters (a PostgreSQL TEXT column refuses them, and jsonb refuses the `\\u0000` escape), lone
UTF-16 surrogates (UTF-8 cannot encode them), NaN and infinities (not JSON), integers wider than
any column, rationals with a zero denominator, bytes, cycles and absurd nesting. One such value
used to make a row insert fail and wedge the whole batch, so everything bound for the database
goes through this module first: each function returns a value that can be stored, or None, and
never raises because of the value it was given.

Standard library only, so it can be used (and tested) without Pillow, pypdf or a database.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping
from datetime import date, datetime, time
from itertools import islice
from typing import Final, TypeAlias

__all__ = [
    "BIGINT_MAX",
    "BIGINT_MIN",
    "INTEGER_MAX",
    "INTEGER_MIN",
    "JSON_INT_MAX",
    "MAX_JSON_DEPTH",
    "SMALLINT_MAX",
    "SMALLINT_MIN",
    "JsonValue",
    "finite_float",
    "int_in_range",
    "json_dumps_storable",
    "storable_datetime",
    "storable_json",
    "storable_text",
]

SMALLINT_MIN: Final = -(2**15)
SMALLINT_MAX: Final = 2**15 - 1
INTEGER_MIN: Final = -(2**31)
INTEGER_MAX: Final = 2**31 - 1
BIGINT_MIN: Final = -(2**63)
BIGINT_MAX: Final = 2**63 - 1

JSON_INT_MAX: Final = 2**63 - 1
"""Largest integer magnitude kept as a JSON number; larger ones become their decimal string.

jsonb itself stores any integer (as numeric), but whoever reads the document back (a BIGINT
cast, a JavaScript client that stops being exact at 2**53, `->>` into a typed column) need not.
"""

MAX_JSON_DEPTH: Final = 256
"""Hard ceiling for `max_depth`: json.dumps and PostgreSQL's jsonb parser both recurse."""

DEFAULT_MAX_DEPTH: Final = 32
DEFAULT_MAX_ITEMS: Final = 1_000
DEFAULT_MAX_STRING: Final = 4_096
DEFAULT_MAX_TOTAL: Final = 256 * 1024

BYTES_AS_HEX_MAX: Final = 64
"""Byte strings up to this length are kept as hex; longer ones become "<N bytes>"."""

STRING_TRUNCATED: Final = "…"
"""Appended to a string cut at `max_string` characters."""
TOO_DEEP: Final = "<nested too deep>"
CYCLE: Final = "<cycle>"
TRUNCATED_KEY: Final = "<truncated>"
"""Key added to a dict whose items were cut; its value says how many were left out."""

JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"

_HIGH_SURROGATES = ("\ud800", "\udbff")
_INT_AS_TEXT_MAX_BITS = 4096  # ~1233 digits; str() of far larger ints is slow or refused


def storable_text(value: str, *, max_chars: int | None = None) -> str:
    """`value` without what PostgreSQL TEXT or UTF-8 refuse, at most `max_chars` characters.

    NUL characters are removed. Surrogate code points (U+D800-U+DFFF) cannot be encoded as UTF-8:
    a correctly ordered high/low pair is joined into the character it stands for, and every lone
    one is removed. Everything else PostgreSQL accepts in a UTF8 database, so it is kept. A
    non-str argument (a str subclass included) is first turned into an exact str.
    """
    if max_chars is not None and max_chars <= 0:
        return ""
    if type(value) is str:
        text = value
    elif isinstance(value, str):
        text = str.__str__(value)  # the characters themselves, not an overridden __str__
    else:
        text = _safe_str(value)
    if max_chars is None:
        return _clean(text)
    parts: list[str] = []
    kept = 0
    start = 0
    # Clean only as much as the cap needs: a 100 MB string costs no more than a short one.
    step = max(max_chars, 4096)
    while start < len(text) and kept < max_chars:
        end = start + step
        if end < len(text) and _HIGH_SURROGATES[0] <= text[end - 1] <= _HIGH_SURROGATES[1]:
            end += 1  # keep a high surrogate with the low one that may follow it
        part = _clean(text[start:end])[: max_chars - kept]
        parts.append(part)
        kept += len(part)
        start = end
    return "".join(parts)


def _clean(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "ignore")
    return text.replace("\x00", "") if "\x00" in text else text


def _safe_str(value: object) -> str:
    """str(value) as an exact str; a placeholder naming the type when str() itself fails."""
    try:
        text = str(value)
        return str.__str__(text)
    except Exception:
        try:
            name = str.__str__(type(value).__name__)
        except Exception:
            name = "object"
        return f"<unprintable {name}>"


def int_in_range(value: object, low: int, high: int) -> int | None:
    """`value` as an int when it is an integer within [low, high], else None.

    Accepts ints and integer-valued numbers (2.0, Fraction(6, 1), Pillow's IFDRational(6, 1));
    refuses bools, strings, bytes, fractions and anything non-finite. Use the *_MIN/*_MAX
    constants for the column's type, e.g. `int_in_range(v, SMALLINT_MIN, SMALLINT_MAX)`.
    """
    if isinstance(value, (bool, str, bytes, bytearray)):
        return None
    try:
        number = _exact_int(value)
        if number is None:
            number_float = float(value)  # type: ignore[arg-type]
            if not math.isfinite(number_float) or not number_float.is_integer():
                return None
            number = int(number_float)
    except Exception:
        return None
    return number if low <= number <= high else None


def _exact_int(value: object) -> int | None:
    """The int an int-like value stands for (ints, numpy integers, anything with __index__)."""
    if isinstance(value, int):
        return int.__index__(value)
    if getattr(type(value), "__index__", None) is None:
        return None
    return int.__index__(operator.index(value))  # type: ignore[arg-type]


def finite_float(
    value: object, low: float | None = None, high: float | None = None
) -> float | None:
    """`value` as a finite float within [low, high] (each bound optional), else None.

    For DOUBLE PRECISION columns such as GPS coordinates: NaN and infinities (which the column
    would accept but no reader expects), rationals with a zero denominator, numbers too large
    for a float, strings and bools all give None.
    """
    if isinstance(value, (bool, str, bytes, bytearray)):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
        number = float.__float__(number)
    except Exception:
        return None
    if not math.isfinite(number):
        return None
    if (low is not None and number < low) or (high is not None and number > high):
        return None
    return number


def storable_datetime(value: object) -> datetime | None:
    """A naive datetime for a TIMESTAMP (without time zone) column, else None.

    A datetime keeps its wall-clock reading and loses its time zone (EXIF times are the camera's
    local time; converting to UTC could move them out of range). A date becomes its midnight.
    Python's datetime range (years 1-9999) lies within PostgreSQL's, so no value is out of range.
    Subclasses (e.g. pandas.Timestamp) become a plain datetime. Anything else gives None.
    """
    try:
        if isinstance(value, datetime):
            return datetime(
                value.year,
                value.month,
                value.day,
                value.hour,
                value.minute,
                value.second,
                value.microsecond,
            )
        if isinstance(value, date):
            return datetime.combine(date(value.year, value.month, value.day), time())
    except Exception:
        return None
    return None


class _Budget:
    """Roughly how many characters of JSON text have been produced so far."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, amount: int) -> None:
        self.used += amount

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit


def storable_json(
    value: object,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
    max_string: int = DEFAULT_MAX_STRING,
    max_total: int = DEFAULT_MAX_TOTAL,
) -> JsonValue:
    """`value` converted to plain JSON types that json.dumps and PostgreSQL jsonb always accept.

    - str: `storable_text`, cut at `max_string` characters with "…" appended.
    - float: kept when finite; NaN and ±inf become None.
    - int (not bool): kept within ±JSON_INT_MAX; a wider one becomes its decimal string (a
      number that no column could hold is still worth showing), or "<integer of N bits>"
      beyond 4096 bits.
    - bytes, bytearray, memoryview: hex when at most 64 bytes, else "<N bytes>".
    - Fraction, Decimal, Pillow's IFDRational and anything else with __float__: the float, or None
      when it is not finite (IFDRational(1, 0) and IFDRational(0, 0) are NaN) or float() fails.
      Other int-likes (with __index__, e.g. numpy integers) are treated as ints.
    - dict and other Mappings: keys become `storable_text` of the key (str(key) for non-strings);
      keys that become equal after cleaning keep the last value. list, tuple, set, frozenset:
      lists.
    - anything else: `storable_text(str(value))`, "<unprintable TYPE>" if str() raises.

    Limits, each with a visible marker: containers nested more than `max_depth` deep become
    "<nested too deep>" (`max_depth` may not exceed MAX_JSON_DEPTH); a container referring to
    itself becomes "<cycle>"; a container keeps its first `max_items` items and ends with
    "<truncated: N more items>" (dicts: key "<truncated>", value the count); once about
    `max_total` characters of JSON have been produced, every open container stops the same way.
    The walk uses an explicit stack, so no input can exhaust Python's recursion limit.
    """
    for name, limit in (
        ("max_depth", max_depth),
        ("max_items", max_items),
        ("max_string", max_string),
        ("max_total", max_total),
    ):
        if limit < 0:
            raise ValueError(f"{name} must be >= 0, not {limit}")
    if max_depth > MAX_JSON_DEPTH:
        raise ValueError(f"max_depth must be <= {MAX_JSON_DEPTH}, not {max_depth}")
    return _Converter(max_depth, max_items, max_string, max_total).run(value)


_Container: TypeAlias = "list[JsonValue] | dict[str, JsonValue]"


class _Converter:
    """Depth-first, in document order, with an explicit stack of pending work.

    A stack entry is either a value to convert into a slot of its (already created) parent, or
    the closing of a container: the point where all its children are done, so it leaves the
    set of containers on the current path (used to detect cycles) and gets its marker if items
    were left out. When the size budget runs out, the remaining values are dropped and every
    still-open container is closed with a marker.
    """

    def __init__(self, max_depth: int, max_items: int, max_string: int, max_total: int) -> None:
        self.max_depth = max_depth
        self.max_items = max_items
        self.max_string = max_string
        self.budget = _Budget(max_total)
        self.on_path: set[int] = set()
        self.stack: list[_Value | _Close] = []

    def run(self, value: object) -> JsonValue:
        root: list[JsonValue] = []
        self.stack.append(_Value(value, root, None, 0))
        dropped: dict[int, int] = {}  # id(output container) -> children left out for the budget
        while self.stack:
            entry = self.stack.pop()
            if isinstance(entry, _Close):
                self.on_path.discard(entry.identity)
                omitted = entry.omitted + dropped.pop(id(entry.out), 0)
                if omitted:
                    _mark_truncated(entry.out, omitted)
            elif self.budget.exceeded:
                dropped[id(entry.parent)] = dropped.get(id(entry.parent), 0) + 1
            else:
                try:
                    self._convert(entry)
                except Exception:
                    _put(entry.parent, entry.key, None)
        return root[0] if root else None

    def _convert(self, entry: _Value) -> None:
        value = entry.value
        if isinstance(value, Mapping):
            self._open(entry, value, is_mapping=True)
        elif isinstance(value, (list, tuple, set, frozenset)):
            self._open(entry, value, is_mapping=False)
        else:
            scalar = self._scalar(value)
            self.budget.spend(_cost(scalar))
            _put(entry.parent, entry.key, scalar)

    def _open(self, entry: _Value, value: object, *, is_mapping: bool) -> None:
        identity = id(value)
        if identity in self.on_path:
            self.budget.spend(len(CYCLE) + 2)
            _put(entry.parent, entry.key, CYCLE)
            return
        if entry.depth >= self.max_depth:
            self.budget.spend(len(TOO_DEEP) + 2)
            _put(entry.parent, entry.key, TOO_DEEP)
            return
        try:
            size = len(value)  # type: ignore[arg-type]
        except Exception:
            size = 0
        out: _Container
        children: list[tuple[str | None, object]]
        if is_mapping:
            pairs = islice(value.items(), self.max_items)  # type: ignore[attr-defined]
            children = [(self._key(key), child) for key, child in pairs]
            out = {}
        else:
            children = [(None, child) for child in islice(value, self.max_items)]  # type: ignore[call-overload]
            out = []
        omitted = max(size - len(children), 0)
        _put(entry.parent, entry.key, out)
        self.budget.spend(2)
        self.on_path.add(identity)
        self.stack.append(_Close(out, identity, omitted))
        depth = entry.depth + 1
        for slot, child in reversed(children):
            self.stack.append(_Value(child, out, slot, depth))

    def _key(self, key: object) -> str:
        text = key if isinstance(key, str) else _safe_str(key)
        cleaned = self._text(text)
        self.budget.spend(len(cleaned) + 3)
        return cleaned

    def _text(self, value: str) -> str:
        text = storable_text(value, max_chars=self.max_string + 1)
        if len(text) > self.max_string:
            return text[: self.max_string] + STRING_TRUNCATED
        return text

    def _scalar(self, value: object) -> JsonValue:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, float):
            number = float.__float__(value)
            return number if math.isfinite(number) else None
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            return raw.hex() if len(raw) <= BYTES_AS_HEX_MAX else f"<{len(raw)} bytes>"
        integer = _exact_int(value)
        if integer is not None:
            return self._integer(integer)
        if getattr(type(value), "__float__", None) is not None:
            try:
                number = float.__float__(float(value))  # type: ignore[arg-type]
            except Exception:
                return None
            return number if math.isfinite(number) else None
        return self._text(_safe_str(value))

    def _integer(self, value: int) -> JsonValue:
        if -JSON_INT_MAX <= value <= JSON_INT_MAX:
            return value
        bits = value.bit_length()
        if bits > _INT_AS_TEXT_MAX_BITS:
            return f"<integer of {bits} bits>"
        return self._text(str(value))


class _Value:
    __slots__ = ("value", "parent", "key", "depth")

    def __init__(self, value: object, parent: _Container, key: str | None, depth: int) -> None:
        self.value = value
        self.parent = parent
        self.key = key
        self.depth = depth


class _Close:
    __slots__ = ("out", "identity", "omitted")

    def __init__(self, out: _Container, identity: int, omitted: int) -> None:
        self.out = out
        self.identity = identity
        self.omitted = omitted


def _put(parent: _Container, key: str | None, value: JsonValue) -> None:
    if isinstance(parent, dict):
        parent[key if key is not None else ""] = value
    else:
        parent.append(value)


def _mark_truncated(out: _Container, omitted: int) -> None:
    if isinstance(out, dict):
        out[TRUNCATED_KEY] = omitted
    else:
        out.append(f"<truncated: {omitted} more items>")


def _cost(value: JsonValue) -> int:
    """Approximate length of a scalar's JSON text (escapes not counted)."""
    if isinstance(value, str):
        return len(value) + 3
    if isinstance(value, bool) or value is None:
        return 6
    if isinstance(value, int):
        return 21
    return 25


def json_dumps_storable(
    value: object,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
    max_string: int = DEFAULT_MAX_STRING,
    max_total: int = DEFAULT_MAX_TOTAL,
) -> str:
    """JSON text of `storable_json(value, ...)` that PostgreSQL jsonb always accepts.

    No NaN or Infinity tokens, no `\\u0000`, no lone surrogates (so it also encodes as UTF-8),
    and nesting within `max_depth`. Non-ASCII characters are written as themselves, compactly.
    """
    document = storable_json(
        value,
        max_depth=max_depth,
        max_items=max_items,
        max_string=max_string,
        max_total=max_total,
    )
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
