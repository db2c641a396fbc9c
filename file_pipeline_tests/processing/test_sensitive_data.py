"""Unit tests of `sensitive_data`: counts per kind, checksums, overlaps, bounds and hostile text.

No services: the scan is pure Python over phonenumbers and python-stdnum. The sample values are
the libraries' own documented examples and the card networks' published test numbers.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable
from types import SimpleNamespace

import phonenumbers
import pytest

from file_pipeline.processing import sensitive_data
from file_pipeline.processing.sensitive_data import (
    SensitiveDataScan,
    SensitiveKind,
    find_sensitive_data,
)

EMAIL = SensitiveKind.EMAIL
PHONE = SensitiveKind.PHONE
CARD = SensitiveKind.PAYMENT_CARD
IBAN = SensitiveKind.IBAN
NATIONAL_ID = SensitiveKind.NATIONAL_ID

CARDS = (
    "4111 1111 1111 1111",  # Visa
    "4242-4242-4242-4242",  # Visa
    "4222222222222",  # Visa, 13 digits
    "5555 5555 5555 4444",  # Mastercard
    "2223 0031 2200 3222",  # Mastercard 2-series
    "378282246310005",  # American Express
    "3782 822463 10005",  # American Express, 4-6-5
    "6011-1111-1111-1117",  # Discover
    "3530 1113 3330 0000",  # JCB
    "30569309025904",  # Diners Club, 14 digits
    "6200 0000 0000 0005",  # UnionPay
)
IBANS = (
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "GR16 0110 1050 0000 1054 7023 795",
    "NL91ABNA0417164300",
)
NATIONAL_IDS = (
    "536-90-4399",  # US SSN
    "54362315-K",  # Spanish DNI
    "12.345.678-Z",  # Spanish DNI with dots
    "X-2482300W",  # Spanish NIE
    "2 95 10 99 126 111 93",  # French NIR
    "295109912611193",  # French NIR, compact
    "253072B07300470",  # French NIR, Corsica
    "RCCMNL83S18D969H",  # Italian codice fiscale
)


def _counts(text: str, **options: str) -> dict[SensitiveKind, int]:
    return find_sensitive_data(text, **options).counts


def test_emails_are_counted_per_occurrence() -> None:
    text = (
        "Write to ada@example.com or grace.hopper+navy@mail.example.org; "
        "cc: ada@example.com, <ops-team@sub.example.co.uk>. Not: ada@localhost, @example.com."
    )
    assert _counts(text) == {EMAIL: 4}


@pytest.mark.parametrize("card", CARDS)
def test_each_card_format(card: str) -> None:
    assert _counts(f"Card on file: {card}, exp 12/27.") == {CARD: 1}


def test_all_cards_in_one_text() -> None:
    assert _counts("Cards: " + "; ".join(CARDS)) == {CARD: len(CARDS)}


@pytest.mark.parametrize("iban", IBANS)
def test_each_iban_format(iban: str) -> None:
    assert _counts(f"Pay to IBAN {iban}.") == {IBAN: 1}


@pytest.mark.parametrize("national_id", NATIONAL_IDS)
def test_each_national_id_format(national_id: str) -> None:
    assert _counts(f"ID: {national_id} (copy)") == {NATIONAL_ID: 1}


def test_phones_use_the_default_region() -> None:
    text = "Call (650) 253-0000 or +44 20 7946 0958; Berlin office 030 901820."
    assert _counts(text) == {PHONE: 2}
    assert _counts(text, default_region="DE") == {PHONE: 2}  # 030 is Berlin, (650) is not
    assert _counts(text, default_region="de") == {PHONE: 2}
    assert _counts("Ruf 030 901820 an") == {}  # not a US number


def test_every_kind_in_one_text_in_kind_order() -> None:
    text = (
        "Call +1 650-253-0000. SSN 536-90-4399, IBAN DE89 3704 0044 0532 0130 00, "
        "card 4111 1111 1111 1111, mail ada@example.com, or +44 20 7946 0958."
    )
    scan = find_sensitive_data(text)
    assert list(scan.counts.items()) == [
        (EMAIL, 1),
        (PHONE, 2),
        (CARD, 1),
        (IBAN, 1),
        (NATIONAL_ID, 1),
    ]
    assert scan.as_json() == {
        "email": 1,
        "phone": 2,
        "payment_card": 1,
        "iban": 1,
        "national_id": 1,
    }
    assert scan.total == 6
    assert scan.partial is None


def test_only_counts_leave_the_module() -> None:
    scan = find_sensitive_data("ada@example.com 4111 1111 1111 1111 536-90-4399 (650) 253-0000")
    assert scan.total == 4
    shown = repr(scan) + json.dumps(scan.as_json())
    for fragment in ("ada", "example", "4111", "4399", "650", "253"):
        assert fragment not in shown


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # Luhn
        "1234 5678 1234 5670",  # Luhn-valid, but no card brand starts 12
        "41111111111111111111",  # 20 digits
        "card4111111111111111",  # glued to a word
        "٤١١١ ١١١١ ١١١١ ١١١١",  # Arabic-Indic digits: cards are ASCII
        "DE89 3704 0044 0532 0130 01",  # mod 97
        "GB82WEST12345698765431",
        "BE68 5390 0754 7034",  # mod 97 right, Belgian bank code unknown
        "de89 3704 0044 0532 0130 00",  # IBANs are printed in capitals
        "666-12-3456",  # SSN area 666
        "000-12-3456",
        "900-12-3456",
        "078-05-1120",  # the SSN printed on sample cards in wallets
        "536904399",  # SSNs only count dashed
        "54362315Z",  # DNI letter
        "X2482300A",  # NIE letter
        "295109912611199",  # NIR key
        "RCCMNL83S18D969A",  # codice fiscale check letter
        "ada@example",
        "ada@localhost",
    ],
)
def test_invalid_values_are_not_counted(text: str) -> None:
    assert find_sensitive_data(f"value: {text} end") == SensitiveDataScan({})


def test_a_card_is_not_also_a_phone() -> None:
    text = "pay 4459 1645 6565 5380 ok"
    matcher = phonenumbers.PhoneNumberMatcher(text, "DE", leniency=phonenumbers.Leniency.VALID)
    assert [match.raw_string for match in matcher] == ["1645"]  # what the matcher alone sees
    assert _counts(text, default_region="DE") == {CARD: 1}
    assert _counts("pay 4992518536713 ok", default_region="DE") == {CARD: 1}


def test_a_plus_makes_a_luhn_valid_number_a_phone() -> None:
    assert _counts("call +4915112345678 now", default_region="DE") == {PHONE: 1}


def test_digits_in_an_address_are_the_address() -> None:
    assert _counts("mail 16502530000@example.com or 4111111111111111@example.com") == {EMAIL: 2}


def test_cards_next_to_other_numbers() -> None:
    assert _counts("4111 1111 1111 1111 123") == {CARD: 1}  # CVV after the number
    assert _counts("4111 1111 1111 1111 4242 4242 4242 4242") == {CARD: 2}
    assert _counts("1234 4111 1111 1111 1111") == {CARD: 1}
    assert _counts(" ".join(["4111 1111 1111 1111"] * 50)) == {CARD: 50}


def test_iban_followed_by_a_capitalised_word() -> None:
    assert _counts("IBAN BE31 4354 1116 1155 NEXT PAGE") == {IBAN: 1}
    assert _counts("GR16 0110 1050 0000 1054 7023 795 THANKS") == {IBAN: 1}


def test_unicode_digits_reach_the_phone_matcher() -> None:
    assert _counts("هاتف ٠٢٠ ٧٩٤٦ ٠٩٥٨", default_region="GB") == {PHONE: 1}


def test_nul_and_lone_surrogates_around_values() -> None:
    text = "\x00ada@example.com\ud800 4111 1111 1111 1111\x00\udfff(650) 253-0000\x00"
    assert _counts(text) == {EMAIL: 1, PHONE: 1, CARD: 1}


def test_empty_text() -> None:
    scan = find_sensitive_data("")
    assert scan == SensitiveDataScan({})
    assert scan.as_json() == {}
    assert scan.total == 0


def test_spent_deadline_gives_partial_and_no_counts() -> None:
    scan = find_sensitive_data("ada@example.com 4111 1111 1111 1111", deadline=time.monotonic() - 1)
    assert scan == SensitiveDataScan({}, "time budget spent before the email scan")


def test_future_deadline_is_not_partial() -> None:
    scan = find_sensitive_data("ada@example.com", deadline=time.monotonic() + 60)
    assert scan == SensitiveDataScan({EMAIL: 1})


def _clock_expiring_at_call(call: int) -> Callable[[], float]:
    """A monotonic clock reading 0 for `call - 1` readings, then 100."""
    readings = itertools.count(1)
    return lambda: 0.0 if next(readings) < call else 100.0


def test_deadline_during_a_kind_keeps_what_was_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    # Readings: before the email scan, the email, before the card scan, card 1, card 2 (late).
    clock = SimpleNamespace(monotonic=_clock_expiring_at_call(5))
    monkeypatch.setattr(sensitive_data, "time", clock)
    scan = find_sensitive_data(
        "ada@example.com 4111 1111 1111 1111 4242-4242-4242-4242 (650) 253-0000", deadline=1.0
    )
    assert scan == SensitiveDataScan(
        {EMAIL: 1, CARD: 1}, "time budget spent during the payment_card scan"
    )


def test_text_beyond_max_chars_is_not_scanned() -> None:
    text = "ada@example.com " * 10
    assert find_sensitive_data(text, max_chars=48) == SensitiveDataScan(
        {EMAIL: 3}, "only the first 48 of 160 characters scanned"
    )
    assert find_sensitive_data(text, max_chars=len(text)) == SensitiveDataScan({EMAIL: 10})
    assert find_sensitive_data("4111 1111 1111 1111", max_chars=18).counts == {}
    assert find_sensitive_data(text, max_chars=0) == SensitiveDataScan(
        {}, "only the first 0 of 160 characters scanned"
    )


def test_both_reasons_are_given() -> None:
    scan = find_sensitive_data("ada@example.com " * 10, max_chars=20, deadline=time.monotonic() - 1)
    assert scan.counts == {}
    assert scan.partial == (
        "only the first 20 of 160 characters scanned; time budget spent before the email scan"
    )


def test_negative_max_chars_is_refused() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        find_sensitive_data("text", max_chars=-1)


def test_a_200k_document_is_scanned_to_the_end() -> None:
    rng = random.Random(7)
    # Numbers always between words: "2024 12 2024" side by side is a valid Washington number.
    phrases = ("the quarterly report", "shows revenue up 42 percent", "in 2024, page 12 of", "for")
    values = [
        ("ada@example.com", EMAIL),
        ("(650) 253-0000", PHONE),
        ("+44 20 7946 0958", PHONE),
        ("4111 1111 1111 1111", CARD),
        ("DE89 3704 0044 0532 0130 00", IBAN),
        ("536-90-4399", NATIONAL_ID),
    ]
    expected = dict.fromkeys(SensitiveKind, 0)
    parts: list[str] = []
    size = 0
    while size < 199_000:
        if rng.random() < 0.02:
            value, kind = rng.choice(values)
            parts.append(f"{value}.")
            expected[kind] += 1
        else:
            parts.append(rng.choice(phrases))
        size += len(parts[-1]) + 1
    text = " ".join(parts)
    assert 199_000 <= len(text) <= 200_000
    scan = find_sensitive_data(text)
    assert scan == SensitiveDataScan({kind: n for kind, n in expected.items() if n})
    cut = find_sensitive_data(text + " " + "x" * 10_000)
    assert cut.counts == scan.counts
    assert cut.partial is not None and cut.partial.startswith("only the first 200000 of")


def _hostile_text(rng: random.Random) -> str:
    """Random text of the kinds extraction can hand over: raw bytes, odd digits, long runs."""
    roll = rng.random()
    if roll < 0.3:
        return rng.randbytes(rng.randrange(0, 400)).decode("utf-8", "surrogateescape")
    if roll < 0.4:
        return rng.choice("0123456789٣٤۴४４") * rng.randrange(1, 5000)
    alphabet = (
        "0123456789" * 4
        + "٠١٢٣٤٥٦٧٨٩۰۱۲۳४५६０１２３"  # Arabic-Indic, Persian, Devanagari, fullwidth
        + " -.()+/@,:\n\t\x00\ud800\udfff\ufeff"
        + "ABXYZaexmlo"
    )
    pieces = [rng.choice(alphabet) for _ in range(rng.randrange(0, 200))]
    for _ in range(rng.randrange(0, 3)):
        value = rng.choice(CARDS + IBANS + NATIONAL_IDS + ("ada@example.com", "(650) 253-0000"))
        pieces.insert(rng.randrange(0, len(pieces) + 1), value)
    return "".join(pieces)


def test_random_hostile_text_never_raises() -> None:
    rng = random.Random(20261125)
    for _ in range(3000):
        text = _hostile_text(rng)
        region = rng.choice(("US", "GB", "DE", "ZZ", "", "us"))
        max_chars = rng.choice((50, 10_000))
        scan = find_sensitive_data(text, default_region=region, max_chars=max_chars)
        assert all(isinstance(kind, SensitiveKind) for kind in scan.counts)
        assert all(isinstance(n, int) and n > 0 for n in scan.counts.values())
        assert list(scan.counts) == [kind for kind in SensitiveKind if kind in scan.counts]
        assert (scan.partial is not None) == (len(text) > max_chars)
        json.dumps(scan.as_json())
