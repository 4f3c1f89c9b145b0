"""Personal data is replaced by a placeholder: in a learner's prompt before any model sees it,
in answers before a learner does, and in training data before a clone learns it.

Emails, phone numbers, street addresses, ID numbers (SSNs, card numbers that pass the Luhn
check, numbers introduced as a student, passport or licence ID) and names where the text says
they are someone's name ("my name is Maya Lopez", "my teacher is Mrs. Ortiz") become `[email]`,
`[phone]`, `[address]`, `[id_number]` and `[name]`. Patterns need the shape of the datum, not
just digits or capitals, so that arithmetic such as `403 - 158` or `3.5 x 10^4` and the names
a lesson is about ("Dr. Martin Luther King Jr. gave a speech") are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_STREET_TYPES = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|"
    r"way|place|pl|terrace|circle|cir|highway|hwy|parkway|pkwy|trail|trl)"
)
_STREET_TYPES_CAPS = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|"
    r"Ct|Way|Place|Pl|Terrace|Circle|Cir|Highway|Hwy|Parkway|Pkwy|Trail|Trl)"
)
_UNIT = r"(?:,?\s+(?:apt|apartment|unit|suite|#)\.?\s*[\w-]+)?"
_CITY_ZIP = (
    r"(?:\s+[NS][EW]?\b)?(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+)*)?(?:,?\s*[A-Z]{2}\b)?"
    r"(?:\s+\d{5}(?:-\d{4})?)?"
)

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.I)),
    ("id_number", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    (
        "id_number",
        re.compile(
            r"(?P<keep>\b(?:ssn|social security(?: number)?|student id|student number|id number|"
            r"passport(?: number)?|driver'?s licen[cs]e(?: number)?|license number|account number)"
            r"(?:\s+(?:is|was|:|#))*\s*[:#]?\s*)[A-Z0-9][A-Z0-9 -]{3,}[0-9]\b",
            re.I,
        ),
    ),
    (
        "phone",
        re.compile(r"(?<![\w/.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[.-]\d{4}\b"),
    ),
    ("phone", re.compile(r"(?<![\w/.])\+\d{1,3}(?:[\s.-]?\d{2,4}){3,5}\b")),
    (
        "phone",
        re.compile(
            r"(?P<keep>\b(?:phone|cell|mobile|call me|text me|number is|my number)"
            r"(?:\s+(?:is|at|on|number))*\s*[:#]?\s*)\+?\d[\d\s().-]{6,}\d",
            re.I,
        ),
    ),
    (
        "address",
        re.compile(
            rf"\b\d{{1,6}}[A-Za-z]?\s+(?:[NSEW]\.?\s+)?(?:[A-Z][a-z]+\s+){{1,3}}{_STREET_TYPES_CAPS}\b"
            rf"{_UNIT}{_CITY_ZIP}"
        ),
    ),
    (
        "address",
        re.compile(
            r"(?P<keep>\b(?:live at|live on|lives at|address is|house is at|home is at|"
            r"located at)\s+)"
            rf"\d{{1,6}}[a-z]?\s+(?:[a-z]+\s+){{1,3}}{_STREET_TYPES}\b{_UNIT}",
            re.I,
        ),
    ),
]
_NAME = r"[A-Z](?:[a-z]+|'[A-Z][a-z]+)(?:-[A-Z][a-z]+)?"
_HONORIFIC = r"(?:Mr|Mrs|Ms|Miss|Dr|Coach)\.?\s+"
PATTERNS += [
    (
        "name",
        re.compile(
            r"(?P<keep>\b(?i:my name is|my name's|my full name is|i'm called|i am called|"
            r"call me|they call me|name:|student:|signed,)\s+)"
            rf"(?:{_HONORIFIC})?{_NAME}(?:[ \t]+{_NAME}){{0,2}}"
        ),
    ),
    (
        "name",
        re.compile(
            r"(?P<keep>\b(?i:my|our|your)\s+(?i:teacher|mom|mother|dad|father|brother|sister|"
            r"friend|best friend|tutor|coach|principal|grandma|grandpa|cousin|aunt|uncle)"
            r"(?:'s name)?(?:\s+(?i:is|was|is named|is called))?\s+)"
            rf"(?:{_HONORIFIC})?{_NAME}(?:[ \t]+{_NAME}){{0,2}}"
        ),
    ),
]
# Streams hold back, from the last this many characters, every word that could begin a datum.
STREAM_HOLD_CHARS = 80
_MAY_BEGIN = re.compile(
    r"[\d@+(]|\b(?i:name|call|called|teacher|mom|mother|dad|father|brother|sister|friend|tutor|coach|"
    r"principal|grandma|grandpa|cousin|aunt|uncle|signed|student|ssn|social|passport|driver|"
    r"license|licence|account|live|lives|address|house|home|located|phone|cell|mobile|text|"
    r"number|mr|mrs|ms|miss|dr)\b"
)
_CARD = re.compile(r"\b\d{4}([ -]?)\d{4}\1\d{4}\1\d{1,7}\b")  # card-number grouping


@dataclass(frozen=True)
class Redaction:
    text: str
    kinds: tuple[str, ...]  # which kinds of personal data were removed, for metrics


def redact_pii(text: str) -> Redaction:
    """`text` with every piece of personal data found replaced by `[kind]`."""
    found: set[str] = set()
    for kind, pattern in PATTERNS:
        text, count = pattern.subn(_placeholder(kind), text)
        if count:
            found.add(kind)

    def card(match: re.Match[str]) -> str:
        if not _luhn_valid(re.sub(r"\D", "", match.group(0))):
            return match.group(0)
        found.add("id_number")
        return "[id_number]"

    return Redaction(_CARD.sub(card, text), tuple(sorted(found)))


def _placeholder(kind: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        # A pattern's `keep` group is context ("I live at") that stays in the text.
        return f"{match.groupdict().get('keep') or ''}[{kind}]"

    return replace


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


class StreamRedactor:
    """Redacts streamed text as it comes. Held back: the word being written, any word of the
    last STREAM_HOLD_CHARS characters that could begin a datum (a digit, `@`, a context such as
    "my name is") with the two words before it and all after it, the last three words, and any
    datum not yet whole. Prose flows; each
    chunk costs O(window), not a scan of everything streamed."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, chunk: str) -> str:
        """The redacted text that may be sent now ("" while it is all held)."""
        pending = self._pending = self._pending + chunk
        cut = _words_back(pending, len(pending))  # the word being written, and two before it
        suspect = _MAY_BEGIN.search(pending, max(0, len(pending) - STREAM_HOLD_CHARS))
        if suspect is not None:
            cut = min(cut, _words_back(pending, suspect.start()))
        for pattern in [*(pattern for _, pattern in PATTERNS), _CARD]:
            for match in pattern.finditer(pending):
                if match.start() < cut < match.end():
                    cut = match.start()
        if not pending[:cut].strip():  # no chunk of blanks alone
            return ""
        released, self._pending = pending[:cut], pending[cut:]
        return redact_pii(released).text

    def close(self) -> str:
        """Everything still held, redacted."""
        rest, self._pending = self._pending, ""
        return redact_pii(rest).text


def _words_back(text: str, end: int) -> int:
    """Where the word at `end` starts, less the two words before it ("my name", "I am")."""
    for _ in range(3):
        end = max(text.rfind(" ", 0, end - 1) + 1, 0) if end > 0 else 0
    return end
