"""Counts of sensitive data (emails, phones, payment cards, IBANs, national ids) in a file's text.

The text comes from an uploaded, untrusted file, so the scan is bounded and never raises because
of what the text holds: at most `max_chars` characters are read, an optional `time.monotonic()`
deadline is checked between candidates, and every call into `phonenumbers` or `python-stdnum` is
made per candidate (or per phone window) and a library error only rejects that candidate. Only
counts are returned: no matched value leaves this module, so none can reach a log or a table.

Each character counts toward at most one finding. Kinds are scanned in the order email, payment
card, IBAN, national id, phone, and a candidate overlapping a span already counted is skipped:
digits inside an address belong to the address, and a number that passes a checksum (Luhn,
mod 97, mod 23...) is far more specific than a phone number, which libphonenumber accepts for
almost any digit run of the right length. A digit run right after "+" is left to the phone
matcher: cards and ids are not written that way, and +4915112345678 would pass as a Visa card.

Payment cards are 13 to 19 ASCII digits, contiguous or in groups separated by one space or dash
(4-4-4-4, 4-6-5, 4-4-4-4-3...), that pass the Luhn check and start with an issuer prefix whose
brand uses that length. IBANs are a country code, two check digits and the BBAN, in capitals,
contiguous or in groups of four separated by single spaces, validated by `stdnum.iban` (mod 97,
the country's BBAN structure and, where python-stdnum has one, the national check). For both,
a grouped candidate that fails is retried without its trailing groups, so a CVV or a following
capitalised word does not hide the number.

National ids are only formats that python-stdnum validates with a checksum or a strict
structure, written in a form distinctive enough that ordinary numbers in prose rarely match:

- US SSN, only dashed (NNN-NN-NNNN): no check digit, but `stdnum.us.ssn` rejects area 000, 666
  and 9xx, group 00, serial 0000 and known published numbers; undashed nine-digit runs are left
  out (order numbers, amounts).
- Spanish DNI (8 digits and a mod-23 letter, dots and a dash allowed) and NIE (X/Y/Z, 7 digits,
  letter).
- French NIR (15 characters, Corsican 2A/2B included, mod-97 key), contiguous or spaced.
- Italian codice fiscale (16 characters in a fixed letter/digit layout, check letter, valid birth
  date).

Left out because they would count too many ordinary numbers in free text: bare digit runs with a
single check digit, which about one random number of the right length in 10 or 11 passes, such
as the Dutch BSN (9 digits, 11-test), the German tax id (11 digits, the length of many phone
numbers written without spaces), the UK NHS number (10 digits, mod 11), the Polish PESEL
(11 digits) and the Canadian SIN (9 digits, Luhn). The UK National Insurance number has no
python-stdnum module.

Phones are what `phonenumbers.PhoneNumberMatcher` finds at `Leniency.VALID`, with
`default_region` for numbers written without a country code, in the text with the spans already
counted blanked out. VALID means a valid number for its region, however it came to be written:
numbers side by side in a table can make one ("2024 12 2024" is a Washington number). The
matcher is run over windows around clusters of digits (any Unicode digits, which it normalises)
rather than the whole text: prose without digits is skipped, each window is small enough for
the deadline to be checked between windows, and the matcher's own cap of 65,535 tries, which
silently ends its scan of a long digit-heavy text, applies per window. Cards, IBANs and
national ids use ASCII digits only.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers
from stdnum import iban, luhn
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.us import ssn

from file_pipeline.processing.products import SensitiveDataScan
from file_pipeline.states import SensitiveKind

__all__ = ["DEFAULT_MAX_CHARS", "SensitiveDataScan", "SensitiveKind", "find_sensitive_data"]

DEFAULT_MAX_CHARS = 200_000


@dataclass(frozen=True)
class _Pattern:
    """Candidates of one format and the check that confirms one.

    `validate` gets the matched text with `strip` characters removed. With `trim_groups`, a
    match that fails is retried without its trailing separator-delimited groups, longest first.
    """

    regex: re.Pattern[str]
    validate: Callable[[str], bool]
    strip: str = ""
    trim_groups: bool = False

    @property
    def deletions(self) -> dict[int, None]:
        """A `str.translate` table removing the `strip` characters."""
        return dict.fromkeys(map(ord, self.strip))


def _brand_table() -> tuple[tuple[int, int, int, frozenset[int]], ...]:
    """Issuer prefixes as (first, last, prefix digits, card lengths), from the brands' IIN ranges.

    Only brands still issuing, with the lengths each one uses; a Luhn-valid run that starts
    otherwise (a 16-digit order number, say) is not counted.
    """
    brands: list[tuple[str, str, range | tuple[int, ...]]] = [
        ("4", "4", (13, 16, 19)),  # Visa
        ("51", "55", (16,)),  # Mastercard
        ("2221", "2720", (16,)),  # Mastercard 2-series
        ("34", "34", (15,)),  # American Express
        ("37", "37", (15,)),  # American Express
        ("6011", "6011", range(16, 20)),  # Discover
        ("644", "649", range(16, 20)),  # Discover
        ("65", "65", range(16, 20)),  # Discover
        ("3528", "3589", range(16, 20)),  # JCB
        ("300", "305", range(14, 20)),  # Diners Club
        ("3095", "3095", range(14, 20)),  # Diners Club
        ("36", "36", range(14, 20)),  # Diners Club
        ("38", "39", range(16, 20)),  # Diners Club
        ("62", "62", range(16, 20)),  # UnionPay
        ("2200", "2204", range(16, 20)),  # Mir
        ("5018", "5018", range(13, 20)),  # Maestro
        ("5020", "5020", range(13, 20)),  # Maestro
        ("5038", "5038", range(13, 20)),  # Maestro
        ("5893", "5893", range(13, 20)),  # Maestro
        ("6304", "6304", range(13, 20)),  # Maestro
        ("6759", "6759", range(13, 20)),  # Maestro
        ("6761", "6763", range(13, 20)),  # Maestro
    ]
    return tuple(
        (int(first), int(last), len(first), frozenset(lengths)) for first, last, lengths in brands
    )


_CARD_BRANDS = _brand_table()


def _is_payment_card(digits: str) -> bool:
    """A plausible card number: a brand's prefix and length, and a valid Luhn check digit."""
    if not 13 <= len(digits) <= 19:
        return False
    plausible = any(
        first <= int(digits[:width]) <= last and len(digits) in lengths
        for first, last, width, lengths in _CARD_BRANDS
    )
    return plausible and luhn.is_valid(digits)


def _is_dni_or_nie(value: str) -> bool:
    """A Spanish DNI, or an NIE (a foreigner's number) when it starts with X, Y or Z."""
    return (nie if value[0] in "XYZ" else dni).is_valid(value)


# ASCII letters and digits on either side would make a candidate part of a longer token, and a
# leading "+" makes it an international phone number (+4915112345678 passes Luhn as a Visa).
_BEFORE = r"(?<![0-9A-Za-z+])"
_AFTER = r"(?![0-9A-Za-z])"
_CF_DIGIT = "[0-9LMNPQRSTUV]"  # a codice fiscale digit, or its letter when two codes clash

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,63}(?![A-Za-z0-9-])"
)

_PATTERNS: dict[SensitiveKind, tuple[_Pattern, ...]] = {
    SensitiveKind.EMAIL: (_Pattern(_EMAIL, lambda value: True),),
    SensitiveKind.PAYMENT_CARD: (
        _Pattern(
            re.compile(
                _BEFORE
                + r"(?:[0-9]{13,19}|[0-9]{4}(?P<sep>[ -])[0-9]{4,6}(?:(?P=sep)[0-9]{1,5}){1,3})"
                + _AFTER
            ),
            _is_payment_card,
            strip=" -",
            trim_groups=True,
        ),
    ),
    SensitiveKind.IBAN: (
        _Pattern(
            re.compile(
                _BEFORE
                + r"[A-Z]{2}[0-9]{2}(?:[0-9A-Z]{11,30}|(?: [0-9A-Z]{4}){2,7}(?: [0-9A-Z]{1,3})?)"
                + _AFTER
            ),
            iban.is_valid,
            strip=" ",
            trim_groups=True,
        ),
    ),
    SensitiveKind.NATIONAL_ID: (
        _Pattern(
            re.compile(r"(?<![0-9A-Za-z+-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9A-Za-z]|-[0-9])"),
            ssn.is_valid,
        ),
        _Pattern(
            re.compile(
                r"(?<![0-9A-Za-z+.])(?:[0-9]{2}\.?[0-9]{3}\.?[0-9]{3}|[XYZ]-?[0-9]{7})-?[A-Z]"
                + _AFTER
            ),
            _is_dni_or_nie,
            strip=".-",
        ),
        _Pattern(
            re.compile(
                _BEFORE
                + r"[1-478] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}"
                + _AFTER
            ),
            nir.is_valid,
            strip=" ",
        ),
        _Pattern(
            re.compile(
                _BEFORE
                + rf"[A-Z]{{6}}{_CF_DIGIT}{{2}}[ABCDEHLMPRST]{_CF_DIGIT}{{2}}"
                + rf"[A-Z]{_CF_DIGIT}{{3}}[A-Z]"
                + _AFTER
            ),
            codicefiscale.is_valid,
        ),
    ),
}

_SCAN_ORDER = (
    SensitiveKind.EMAIL,
    SensitiveKind.PAYMENT_CARD,
    SensitiveKind.IBAN,
    SensitiveKind.NATIONAL_ID,
    SensitiveKind.PHONE,
)
"""Most specific first: a span counted for one kind is skipped by the kinds after it."""

# Digits (any script) at most four characters apart: the skeleton of a written phone number.
_DIGIT_CLUSTER = re.compile(r"\d(?:\D{0,4}\d)*")
_NON_DIGITS = re.compile(r"\D+")
_MIN_PHONE_DIGITS = 4
"""Clusters with fewer digits are skipped: the shortest national numbers in libphonenumber's
metadata (Niue, Saint Helena, parts of Austria and Germany...) have four digits."""
_PHONE_CONTEXT = 16
"""Characters the matcher sees either side of a number: a leading "+" or "(", and the neighbours
it looks at to reject a number glued to letters or to more digits."""
_MAX_WINDOW = 1024
_WINDOW_OVERLAP = 96
"""A window longer than `_MAX_WINDOW` is cut into pieces sharing this many characters. A match
within `_PHONE_CONTEXT` of a cut is left to the neighbouring piece, which sees it whole and with
its context; any number up to 64 characters long is whole in one piece away from the cuts."""


class _Spans:
    """Non-overlapping [start, end) spans, sorted, with an overlap test in O(log n)."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect_right(self._starts, start)
        return (i > 0 and self._ends[i - 1] > start) or (
            i < len(self._starts) and self._starts[i] < end
        )

    def add(self, start: int, end: int) -> None:
        """Add a span that overlaps none already held (at the end in the common case)."""
        i = bisect_right(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)

    def blanked(self, text: str) -> str:
        """`text` with the characters of every span replaced by spaces (same length)."""
        parts: list[str] = []
        position = 0
        for start, end in zip(self._starts, self._ends, strict=True):
            parts += (text[position:start], " " * (end - start))
            position = end
        parts.append(text[position:])
        return "".join(parts)


def _safe(check: Callable[[str], bool], value: str) -> bool:
    """`check(value)`, with any exception (a library bug on odd input) meaning "not valid"."""
    try:
        return bool(check(value))
    except Exception:
        return False


def _candidates(matched: str, pattern: _Pattern) -> Iterator[str]:
    """The matched text, then (with `trim_groups`) each prefix ending before a separator."""
    yield matched
    if pattern.trim_groups:
        for end in range(len(matched) - 1, 0, -1):
            if matched[end] in pattern.strip:
                yield matched[:end]


@dataclass(frozen=True)
class _Window:
    """A piece of the text for the phone matcher: [start, end), of which only matches within
    [keep_start, keep_end) count (the rest lies at a cut, without its full context)."""

    start: int
    end: int
    keep_start: int
    keep_end: int


def _phone_windows(text: str) -> Iterator[_Window]:
    """Windows of `text` around the digit clusters long enough to be phone numbers.

    Overlapping windows are merged; a merged window longer than `_MAX_WINDOW` is cut into
    overlapping pieces, so the matcher's work between two deadline checks stays small.
    """
    merged: list[tuple[int, int]] = []
    for cluster in _DIGIT_CLUSTER.finditer(text):
        if len(_NON_DIGITS.sub("", cluster.group())) < _MIN_PHONE_DIGITS:
            continue
        start = max(0, cluster.start() - _PHONE_CONTEXT)
        end = min(len(text), cluster.end() + _PHONE_CONTEXT)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    for start, end in merged:
        piece = start
        while True:
            piece_end = min(end, piece + _MAX_WINDOW)
            yield _Window(
                piece,
                piece_end,
                keep_start=piece if piece == start else piece + _PHONE_CONTEXT,
                keep_end=piece_end if piece_end == end else piece_end - _PHONE_CONTEXT,
            )
            if piece_end == end:
                break
            piece += _MAX_WINDOW - _WINDOW_OVERLAP


def _phone_spans(window: str, region: str) -> list[tuple[int, int]]:
    """Spans of the numbers the matcher finds in one window; none if it fails on this input."""
    try:
        matcher = phonenumbers.PhoneNumberMatcher(
            window, region, leniency=phonenumbers.Leniency.VALID
        )
        return [(match.start, match.end) for match in matcher]
    except Exception:
        return []


class _Scan:
    """One text's scan: the spans counted so far, the counts, and the deadline."""

    def __init__(self, text: str, deadline: float | None) -> None:
        self.text = text
        self.deadline = deadline
        self.counted = _Spans()
        self.counts: dict[SensitiveKind, int] = dict.fromkeys(SensitiveKind, 0)

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def count(self, kind: SensitiveKind, start: int, end: int) -> None:
        """Count a finding unless its span overlaps one already counted."""
        if not self.counted.overlaps(start, end):
            self.counted.add(start, end)
            self.counts[kind] += 1

    def patterns(self, kind: SensitiveKind) -> bool:
        """Count `kind`'s validated regex candidates; False if the deadline stopped it.

        After a count the search resumes where the counted text ends (a trimmed card leaves the
        next card on the line to be matched); after a rejection, one character further on, so
        a run such as "1234 4111 1111 1111 1111" is also tried from its second group.
        """
        for pattern in _PATTERNS[kind]:
            position = 0
            while match := pattern.regex.search(self.text, position):
                if self.out_of_time():
                    return False
                position = match.start() + 1
                for candidate in _candidates(match.group(), pattern):
                    start, end = match.start(), match.start() + len(candidate)
                    if not self.counted.overlaps(start, end) and _safe(
                        pattern.validate, candidate.translate(pattern.deletions)
                    ):
                        self.count(kind, start, end)
                        position = end
                        break
        return True

    def phones(self, region: str) -> bool:
        """Count the phone numbers in windows around digits; False if the deadline stopped it.

        The matcher reads the text with the spans already counted blanked out: their digits
        can neither be a phone number nor run into one next to them.
        """
        text = self.counted.blanked(self.text)
        for window in _phone_windows(text):
            if self.out_of_time():
                return False
            for match_start, match_end in _phone_spans(text[window.start : window.end], region):
                start, end = window.start + match_start, window.start + match_end
                if window.keep_start <= start and end <= window.keep_end:
                    self.count(SensitiveKind.PHONE, start, end)
        return True


def find_sensitive_data(
    text: str,
    *,
    default_region: str = "US",
    deadline: float | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> SensitiveDataScan:
    """Count the emails, payment cards, IBANs, national ids and phone numbers in `text`.

    `default_region` (ISO 3166 code) is the country assumed for phone numbers written without
    a country code. `deadline` is a `time.monotonic()` value: once it has passed, the scan
    stops, keeps what it counted and says so in `partial`. Characters after the first
    `max_chars` are not scanned, and `partial` says so too.
    """
    if max_chars < 0:
        raise ValueError(f"max_chars must be >= 0, got {max_chars}")
    reasons: list[str] = []
    if len(text) > max_chars:
        reasons.append(f"only the first {max_chars} of {len(text)} characters scanned")
        text = text[:max_chars]
    scan = _Scan(text, deadline)
    for kind in _SCAN_ORDER if text else ():
        if scan.out_of_time():
            reasons.append(f"time budget spent before the {kind.value} scan")
            break
        if kind is SensitiveKind.PHONE:
            done = scan.phones(default_region.upper())
        else:
            done = scan.patterns(kind)
        if not done:
            reasons.append(f"time budget spent during the {kind.value} scan")
            break
    counts = {kind: count for kind, count in scan.counts.items() if count}
    return SensitiveDataScan(counts, "; ".join(reasons) or None)
