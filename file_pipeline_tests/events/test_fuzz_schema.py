"""`parse_event` against generated hostile messages (fixed seed): every message is either a valid
event or rejected with InvalidEventError, never another exception; what is accepted can be sent
again and parses back to the same event; nothing takes long.

Messages are mutations of valid events (ours and the seed's): bit flips, truncation, bytes that
are not UTF-8, fields removed, retyped or replaced with odd values (huge integers, floats, NUL and
lone surrogates, deep nesting, very long strings), plus random bytes and random JSON.
"""

from __future__ import annotations

import copy
import json
import random
import time
from typing import Any

import pytest

from file_pipeline.errors import InvalidEventError
from file_pipeline.events.schema import EventType, FileEvent, new_event, parse_event
from file_pipeline_tests.events.test_schema import META, SEED_EVENT

SEED = 20261125
MESSAGES = 3000
ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    -(2**63) - 1,
    10**400,
    1.5,
    1e308,
    "",
    " ",
    "\x00",
    "\ud800",
    "x" * 100_000,
    "../../etc/passwd",
    [],
    {},
    [[[[[[[[[[[]]]]]]]]]]],
    {"nested": {"deeper": {"deepest": [1, 2, 3]}}},
    "UPLOADED",
    "DELETED",
    "3f0c1a9e-8d1b-4b6f-9a51-0c2d5e7f8a90",
]


def _valid_documents() -> list[dict[str, Any]]:
    ours = json.loads(new_event(EventType.UPLOADED, META, 1696500000000).to_json())
    ours["eventId"] = "0b5d3c2e-6f1a-4e8b-9c7d-2a4f6e8b0c1d"  # new_event's is random
    return [ours, copy.deepcopy(SEED_EVENT)]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            paths.extend(_paths(value, (*prefix, key)))
    return paths


def _mutate_document(rng: random.Random, doc: dict[str, Any]) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randrange(1, 4)):
        path = rng.choice(_paths(doc))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        roll = rng.random()
        if roll < 0.25:
            del parent[path[-1]]
        elif roll < 0.85:
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
        else:
            parent[f"extra{rng.randrange(100)}"] = copy.deepcopy(rng.choice(ODD_VALUES))
    return doc


def _serialise(rng: random.Random, doc: Any) -> bytes:
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.05:  # nested deeper than any parser's recursion limit, as text
        depth = rng.randrange(1, 5000)
        text = '{"wrapped":' * depth + text + "}" * depth
    data = text.encode("utf-8", "surrogatepass")
    roll = rng.random()
    if roll < 0.15:
        data = data[: rng.randrange(len(data))]
    elif roll < 0.3:
        flipped = bytearray(data)
        for _ in range(rng.randrange(1, 8)):
            position = rng.randrange(len(flipped))
            flipped[position] ^= 1 << rng.randrange(8)
        data = bytes(flipped)
    elif roll < 0.35:
        data = b"\xff\xfe" + data
    return data


def generate_messages(seed: int = SEED, count: int = MESSAGES) -> list[bytes | None]:
    rng = random.Random(seed)
    valid = _valid_documents()
    messages: list[bytes | None] = [None]
    while len(messages) < count:
        roll = rng.random()
        if roll < 0.05:
            messages.append(rng.randbytes(rng.randrange(0, 200)))
        elif roll < 0.1:
            messages.append(_serialise(rng, rng.choice(ODD_VALUES)))
        elif roll < 0.15:
            messages.append(_serialise(rng, rng.choice(valid)))
        else:
            messages.append(_serialise(rng, _mutate_document(rng, rng.choice(valid))))
    return messages


@pytest.fixture(scope="module")
def outcomes() -> list[tuple[bytes | None, FileEvent | InvalidEventError, float]]:
    results = []
    for message in generate_messages():
        started = time.perf_counter()
        try:
            outcome: FileEvent | InvalidEventError = parse_event(message)
        except InvalidEventError as exc:
            outcome = exc
        results.append((message, outcome, time.perf_counter() - started))
    return results


def test_every_message_is_an_event_or_a_reasoned_rejection(outcomes) -> None:
    # Any other exception would have escaped the fixture and failed every test.
    accepted = [o for _, o, _ in outcomes if isinstance(o, FileEvent)]
    rejected = [o for _, o, _ in outcomes if isinstance(o, InvalidEventError)]
    assert len(accepted) + len(rejected) == MESSAGES
    # The generator really produces both kinds, in numbers.
    assert len(accepted) >= 300 and len(rejected) >= 1500
    assert all(str(r) for r in rejected)


def test_accepted_events_round_trip(outcomes) -> None:
    for _, outcome, _ in outcomes:
        if isinstance(outcome, FileEvent):
            again = parse_event(outcome.to_json().encode())
            # Unknown top-level fields are read (and kept on the event), never written.
            assert again.model_dump() == outcome.model_dump(exclude=set(outcome.extra))


def test_accepted_events_hold_nothing_a_row_cannot_store(outcomes) -> None:
    for _, outcome, _ in outcomes:
        if not isinstance(outcome, FileEvent):
            continue
        meta = outcome.file
        texts = [meta.id, meta.filename, meta.s3_key, meta.uploaded_by, outcome.event_type]
        texts += [t for t in (meta.s3_url, meta.content_type, meta.description) if t is not None]
        for text in texts:
            assert "\x00" not in text
            text.encode("utf-8")  # no lone surrogate
        for number in (meta.file_size, meta.uploaded_at, outcome.timestamp):
            assert number is None or -(2**63) <= number < 2**63


def test_no_message_takes_long(outcomes) -> None:
    slowest = max(seconds for _, _, seconds in outcomes)
    assert slowest < 1.0, slowest


def test_the_messages_are_the_same_for_the_same_seed() -> None:
    assert generate_messages(count=200) == generate_messages(count=200)
    assert generate_messages(seed=1, count=200) != generate_messages(count=200)
