"""Personal data in a learner's prompt is replaced by a placeholder before any model sees it.

Emails, phone numbers, street addresses and ID numbers (SSNs, card numbers that pass the Luhn
check, numbers introduced as a student, passport or licence ID) become `[email]`, `[phone]`,
`[address]` and `[id_number]`. Patterns need the shape of the datum, not just digits, so that
arithmetic such as `403 - 158` or `3.5 x 10^4` is left alone.
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
