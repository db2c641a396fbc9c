"""Unit tests of `normalize`: hostile metadata in, values PostgreSQL and JSON accept out.

No database here: jsonb's rules are checked on the JSON text itself (no NaN/Infinity tokens, no
`\\u0000`, no lone surrogates, UTF-8 encodable, integers within the documented bound).
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from PIL.TiffImagePlugin import IFDRational

from file_pipeline.processing.normalize import (
    BIGINT_MAX,
    BIGINT_MIN,
    INTEGER_MAX,
    INTEGER_MIN,
    JSON_INT_MAX,
    SMALLINT_MAX,
    SMALLINT_MIN,
    finite_float,
    int_in_range,
    json_dumps_storable,
    storable_datetime,
    storable_json,
    storable_text,
)

NAN = float("nan")
INF = float("inf")
# A `\u0000` escape, as opposed to an escaped backslash followed by the text "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _refuse_constant(token: str) -> Any:
    raise AssertionError(f"JSON text has the non-standard token {token!r}, which jsonb refuses")


def _check_int(token: str) -> int:
    number = int(token)
    assert -JSON_INT_MAX <= number <= JSON_INT_MAX, token
    return number


def _check_float(token: str) -> float:
    number = float(token)
    assert math.isfinite(number), token
    return number


def _assert_jsonb_safe(text: str) -> Any:
    """Parse `text` as PostgreSQL jsonb would accept it, and return the document."""
    assert isinstance(text, str)
    text.encode("utf-8")  # lone surrogates would raise here
    assert "\x00" not in text
    assert _NUL_ESCAPE.search(text) is None
    document = json.loads(
        text, parse_constant=_refuse_constant, parse_int=_check_int, parse_float=_check_float
    )
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            assert "\x00" not in node
            node.encode("utf-8")  # a `\ud800` escape decodes to a lone surrogate
        else:
            assert node is None or isinstance(node, (bool, int, float)), type(node)
    return document


def _depth(document: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
    return deepest


def test_storable_text_removes_nul_and_lone_surrogates() -> None:
    assert storable_text("a\x00b\x00") == "ab"
    assert storable_text("\ud800") == ""
    assert storable_text("x\udfffy\ud800") == "xy"
    assert (
        storable_text("ok \u00e9 \u4e2d \U0001f600 \ufffe") == "ok \u00e9 \u4e2d \U0001f600 \ufffe"
    )
    # A high/low pair in the wrong encoding (as json.loads gives for "\ud83d\ude00") is joined.
    assert storable_text("\ud83d\ude00") == "\U0001f600"
    assert storable_text("\ude00\ud83d") == ""
    for text in ("\x00\ud800", "a\x00\udc00b"):
        storable_text(text).encode("utf-8")


def test_storable_text_caps_length() -> None:
    assert storable_text("abcdef", max_chars=3) == "abc"
    assert storable_text("abc", max_chars=0) == ""
    # Removed characters do not count, however many come first.
    assert storable_text("\x00" * 100_000 + "abcdef", max_chars=4) == "abcd"
    # A surrogate pair straddling an internal chunk boundary is still joined.
    text = "a" * 4095 + "\ud83d\ude00" + "b"
    assert storable_text(text, max_chars=4097) == "a" * 4095 + "\U0001f600" + "b"


def test_storable_text_of_str_subclass_uses_its_characters() -> None:
    class Sneaky(str):
        def __str__(self) -> str:
            return "\x00other"

    assert storable_text(Sneaky("a\x00b")) == "ab"
    assert type(storable_text(Sneaky("x"))) is str


def test_non_finite_floats_become_none() -> None:
    assert storable_json([NAN, INF, -INF, 1.5, -0.0]) == [None, None, None, 1.5, -0.0]
    assert json_dumps_storable({"x": NAN}) == '{"x":null}'


def test_integers_beyond_the_bound_become_decimal_strings() -> None:
    assert storable_json(2**64) == "18446744073709551616"
    assert storable_json(-(2**70)) == "-1180591620717411303424"
    assert storable_json(JSON_INT_MAX) == JSON_INT_MAX
    assert storable_json(-JSON_INT_MAX) == -JSON_INT_MAX
    assert storable_json(-JSON_INT_MAX - 1) == str(-JSON_INT_MAX - 1)
    # Too wide even for str() (Python limits int-to-text conversion): a marker instead.
    assert storable_json(10**5000) == "<integer of 16610 bits>"
    assert storable_json([True, False, None]) == [True, False, None]


def test_nul_in_keys_and_values() -> None:
    result = storable_json({"ma\x00ke": "Can\x00on\x00", "\x00": ["\x00x"]})
    assert result == {"make": "Canon", "": ["x"]}
    _assert_jsonb_safe(json_dumps_storable({"a\x00": "\x00", "\ud800": "\ud800"}))


def test_bytes_become_short_hex_or_a_size() -> None:
    assert storable_json(b"\x00\xff") == "00ff"
    assert storable_json(bytearray(b"\x01")) == "01"
    assert storable_json(memoryview(b"ab")) == "6162"
    assert storable_json(b"x" * 65) == "<65 bytes>"
    assert storable_json({"MakerNote": bytes(100_000)}) == {"MakerNote": "<100000 bytes>"}


def test_rationals_and_float_likes() -> None:
    values = [IFDRational(1, 0), IFDRational(0, 0), IFDRational(3, 2), Fraction(1, 4)]
    assert storable_json(values) == [None, None, 1.5, 0.25]
    assert storable_json([Decimal("NaN"), Decimal("sNaN"), Decimal("1e400"), Decimal("2.5")]) == [
        None,
        None,
        None,
        2.5,
    ]
    assert storable_json((IFDRational(43, 1), IFDRational(46, 1), IFDRational(3018, 100))) == [
        43.0,
        46.0,
        30.18,
    ]


def test_containers_become_lists_and_dict_keys_text() -> None:
    assert storable_json((1, (2, 3))) == [1, [2, 3]]
    assert sorted(storable_json(frozenset({1, 2}))) == [1, 2]  # type: ignore[arg-type]
    assert storable_json({1: "a", None: "b", (1, 2): "c"}) == {"1": "a", "None": "b", "(1, 2)": "c"}


def test_other_objects_become_their_text() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    class NulText:
        def __str__(self) -> str:
            return "bad\x00\ud800text"

    class BadFloat:
        def __float__(self) -> float:
            raise ZeroDivisionError

    assert storable_json(Broken()) == "<unprintable Broken>"
    assert storable_json(NulText()) == "badtext"
    assert storable_json(BadFloat()) is None
    assert storable_json(complex(1, 2)) == "(1+2j)"
    assert storable_json(datetime(2024, 5, 6, 7, 8, 9)) == "2024-05-06 07:08:09"


def test_hostile_containers_and_numbers_become_none() -> None:
    class Exploding(Mapping[str, int]):
        def __getitem__(self, key: str) -> int:
            raise RuntimeError("no")

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("no")

        def __len__(self) -> int:
            raise RuntimeError("no")

    class BadList(list[int]):
        def __iter__(self) -> Iterator[int]:
            raise RuntimeError("no")

    class BadIndex:
        def __index__(self) -> int:
            raise ValueError("no")

    value = {"map": Exploding(), "list": BadList([1]), "index": BadIndex()}
    assert storable_json(value) == {"map": None, "list": None, "index": None}
    assert int_in_range(BadIndex(), 0, 10) is None


def test_deep_nesting_built_iteratively_is_capped() -> None:
    root: list[Any] = []
    node = root
    for _ in range(10_000):
        child: list[Any] = []
        node.append(child)
        node = child
    text = json_dumps_storable(root, max_depth=32)
    document = _assert_jsonb_safe(text)
    assert _depth(document) == 32
    assert "<nested too deep>" in text
    deep_dict: dict[str, Any] = {}
    cursor = deep_dict
    for _ in range(10_000):
        cursor["k"] = {}
        cursor = cursor["k"]
    _assert_jsonb_safe(json_dumps_storable(deep_dict))


def test_cycles_are_marked() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    assert storable_json(loop) == [1, "<cycle>"]
    mapping: dict[str, Any] = {}
    mapping["self"] = mapping
    assert storable_json(mapping) == {"self": "<cycle>"}
    shared = [1]
    assert storable_json([shared, shared]) == [[1], [1]]  # shared, not a cycle


def test_million_item_dict_is_cut_at_max_items() -> None:
    huge = {f"k{index}": index for index in range(1_000_000)}
    result = storable_json(huge, max_items=1000)
    assert isinstance(result, dict)
    assert len(result) == 1001
    assert result["k999"] == 999
    assert result["<truncated>"] == 999_000
    assert storable_json(list(range(10)), max_items=3) == [0, 1, 2, "<truncated: 7 more items>"]


def test_long_strings_are_cut_with_a_marker() -> None:
    assert storable_json("abcdef", max_string=3) == "abc…"
    assert storable_json({"k" * 10: 1}, max_string=4) == {"kkkk…": 1}


def test_total_size_is_capped() -> None:
    # 2**40 paths through a shared list: only the size budget stops this one.
    value: list[Any] = ["x" * 100]
    for _ in range(40):
        value = [value, value]
    text = json_dumps_storable(value, max_total=50_000)
    _assert_jsonb_safe(text)
    assert len(text) < 60_000
    assert "<truncated: 1 more items>" in text
    many = ["y" * 1000] * 1000
    document = storable_json(many, max_total=10_000)
    assert isinstance(document, list)
    assert len(document) < 15
    assert document[-1] == f"<truncated: {1000 - (len(document) - 1)} more items>"


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        storable_json([], max_items=-1)
    with pytest.raises(ValueError):
        storable_json([], max_depth=10_000)


def test_int_in_range() -> None:
    assert (SMALLINT_MIN, SMALLINT_MAX) == (-32768, 32767)
    assert (INTEGER_MIN, INTEGER_MAX) == (-(2**31), 2**31 - 1)
    assert (BIGINT_MIN, BIGINT_MAX) == (-(2**63), 2**63 - 1)
    assert int_in_range(6, SMALLINT_MIN, SMALLINT_MAX) == 6
    assert int_in_range(9999, 1, 8) is None
    assert int_in_range(2**64, BIGINT_MIN, BIGINT_MAX) is None
    assert int_in_range(-(2**31), INTEGER_MIN, INTEGER_MAX) == -(2**31)
    assert int_in_range(2.0, 0, 10) == 2
    assert int_in_range(IFDRational(6, 1), 0, 10) == 6
    for bad in (2.5, NAN, INF, True, "6", b"6", None, (6,), IFDRational(0, 0), Fraction(1, 2)):
        assert int_in_range(bad, -100, 100) is None, bad


def test_finite_float() -> None:
    assert finite_float(43.5, -90, 90) == 43.5
    assert finite_float(IFDRational(3, 2)) == 1.5
    assert finite_float(7) == 7.0
    assert finite_float(200.0, -90, 90) is None
    assert finite_float(-181, -180, 180) is None
    for bad in (NAN, INF, -INF, IFDRational(1, 0), IFDRational(0, 0), 10**400, "1.0", True, None):
        assert finite_float(bad) is None, bad


def test_storable_datetime() -> None:
    assert storable_datetime(datetime(2023, 7, 14, 16, 32, 10)) == datetime(2023, 7, 14, 16, 32, 10)
    aware = datetime(2023, 7, 14, 16, 32, 10, tzinfo=timezone(timedelta(hours=9)))
    naive = storable_datetime(aware)
    assert naive == datetime(2023, 7, 14, 16, 32, 10)
    assert naive is not None and naive.tzinfo is None
    assert storable_datetime(date(2020, 2, 29)) == datetime(2020, 2, 29)
    assert storable_datetime(datetime.max) == datetime.max
    assert storable_datetime(datetime.min) == datetime.min
    for bad in ("2023:07:14 16:32:10", 0, None, NAN):
        assert storable_datetime(bad) is None


class _Weird:
    """An object whose text is hostile, or whose str() fails."""

    def __init__(self, text: str | None) -> None:
        self.text = text

    def __str__(self) -> str:
        if self.text is None:
            raise ValueError("unprintable")
        return self.text


_SCALARS: tuple[Any, ...] = (
    NAN,
    INF,
    -INF,
    -0.0,
    1e308,
    5e-324,
    2**64,
    -(2**70),
    2**63 - 1,
    -(2**63),
    10**5000,
    0,
    True,
    None,
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udc00x",
    "\ud83d\ude00",
    "\U0001f600",
    "\ufffe\uffff",
    "\\u0000",
    "NaN",
    b"",
    b"\x00\xff" * 3,
    bytes(500),
    IFDRational(1, 0),
    IFDRational(0, 0),
    IFDRational(7, 3),
    Fraction(-5, 7),
    Decimal("NaN"),
    Decimal("-Infinity"),
    Decimal("1e-400"),
    complex(NAN, 1),
    datetime(1, 1, 1),
)


def _random_text(rng: random.Random) -> str:
    alphabet = 'ab \x00\x01\x7f\u00e9\u4e2d\ud800\udbff\udc00\udfff\ufeff\U0001f600"\\'
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))


def _random_scalar(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.4:
        return rng.choice(_SCALARS)
    if roll < 0.6:
        return _random_text(rng)
    if roll < 0.7:
        return rng.randbytes(rng.randrange(0, 80))
    if roll < 0.8:
        return rng.choice((-1, 1)) * rng.randrange(0, 2 ** rng.randrange(1, 200))
    if roll < 0.85:
        return IFDRational(rng.randrange(-3, 3), rng.randrange(0, 3))
    if roll < 0.9:
        return rng.choice((rng.uniform(-1e300, 1e300), float(rng.choice(("nan", "-inf")))))
    return _Weird(rng.choice((None, _random_text(rng))))


def _random_value(rng: random.Random) -> Any:
    """A random nested value built without recursion, sometimes with cycles and deep chains."""
    root: list[Any] = []
    containers: list[Any] = [root]
    for _ in range(rng.randrange(1, 60)):
        parent = rng.choice(containers)
        roll = rng.random()
        child: Any
        if roll < 0.15:
            child = {}
        elif roll < 0.25:
            child = []
        elif roll < 0.28 and containers:
            child = rng.choice(containers)  # a cycle or a shared reference
        elif roll < 0.30:
            child = chain = []
            for _ in range(rng.randrange(30, 300)):
                link: list[Any] = []
                chain.append(link)
                chain = link
        else:
            child = _random_scalar(rng)
        if isinstance(parent, dict):
            key = rng.choice(
                (_random_text(rng), rng.randrange(-5, 5), None, NAN, b"k", (1, "\x00"))
            )
            parent[key] = child
        else:
            parent.append(child)
        if isinstance(child, (dict, list)) and rng.random() < 0.5:
            containers.append(child)
    if rng.random() < 0.3:
        return tuple(root)
    if rng.random() < 0.2:
        return _random_scalar(rng)
    return root


def test_random_hostile_values_always_give_jsonb_safe_text() -> None:
    rng = random.Random(20261125)
    for _ in range(2000):
        value = _random_value(rng)
        max_depth = rng.choice((0, 1, 8, 32))
        text = json_dumps_storable(value, max_depth=max_depth)
        document = _assert_jsonb_safe(text)
        assert _depth(document) <= max_depth + 1  # +1: the marker list of a truncated container
        assert json_dumps_storable(value, max_depth=max_depth) == text
        small = json_dumps_storable(
            value, max_items=rng.randrange(0, 5), max_string=rng.randrange(0, 5), max_total=200
        )
        _assert_jsonb_safe(small)
