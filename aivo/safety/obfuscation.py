"""Undoing the disguises an injection hides behind, so the screening rules see the plain text.

`normalise` folds Unicode look-alikes, invisible characters, case and spacing; `disguised_forms`
yields the readings of a prompt that a model could be talked into: rot13, reversed, leetspeak,
spaced-out letters, and payloads encoded as base64, hex, \\x escapes, %XX or binary bytes.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
import urllib.parse
from collections.abc import Iterator

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
# Cyrillic and Greek letters drawn like Latin ones, used to spell "show your system prompt"
# past a filter that compares letters.
_CONFUSABLES = str.maketrans(
    "аеорсухіјѕԁһԛԝАВЕКМНОРСТХУІЈЅαεικνορτυχΑΒΕΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdhqwABEKMHOPCTXYIJSaeikvoptuxABEHIKMNOPTYX",
)
_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
    }
)
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}[ :]?){8,}\b")
_HEX_ESCAPES = re.compile(r"(?:\\x[0-9a-fA-F]{2}\s*){4,}")
_PERCENT = re.compile(r"(?:%[0-9a-fA-F]{2}){4,}")
_BINARY = re.compile(r"\b(?:[01]{8}\s?){4,}")
_SPACED = re.compile(r"\b[a-z](?:[ .\-_*][a-z]\b){3,}")
SHORTHAND = {
    "u": "you",
    "ur": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "ppl": "people",
    "msg": "message",
    "instrux": "instructions",
}
_SHORTHAND = re.compile(r"\b(?:" + "|".join(SHORTHAND) + r")\b")
MIN_PRINTABLE = 0.9  # a decoded payload that is mostly not text was not text


def normalise(text: str) -> str:
    """NFKC, no invisible characters, straight quotes, lower case, single spaces, and chat
    shorthand spelled out ("ur" -> "your")."""
    return _SHORTHAND.sub(lambda m: SHORTHAND[m.group(0)], _plain(text))


def disguised_forms(text: str) -> Iterator[str]:
    """Other readings of `text`, each normalised."""
    plain = _plain(text)
    yield normalise(codecs.encode(plain, "rot13"))
    yield normalise(plain[::-1])
    if re.search(r"[a-z][0-9@$!|]|[0-9@$!|][a-z]", plain):
        yield normalise(plain.translate(_LEET))
    if _SPACED.search(_fold(text)):
        yield _join_spaced_letters(text)
    for payload in _decoded_payloads(text):
        yield normalise(payload)


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", _fold(text)).strip()


def _fold(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).translate(_QUOTES).translate(_CONFUSABLES)
    return "".join(c for c in folded if unicodedata.category(c) != "Cf").lower()


def _join_spaced_letters(text: str) -> str:
    # "i g n o r e   a l l": single letters make words, wider gaps separate them.
    words = re.split(r"\s{2,}", _fold(text))
    return normalise(" ".join(re.sub(r"(?<=\b[a-z])[ .\-_*](?=[a-z]\b)", "", w) for w in words))


def _decoded_payloads(text: str) -> Iterator[str]:
    for match in _BASE64.finditer(text):
        token = match.group(0)
        padded = token + "=" * (-len(token) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                yield from _as_text(decode(padded))
            except (binascii.Error, ValueError):
                continue
    for match in _HEX.finditer(text):
        digits = re.sub(r"[ :]", "", match.group(0))
        if len(digits) % 2 == 0:
            yield from _as_text(bytes.fromhex(digits))
    for match in _HEX_ESCAPES.finditer(text):
        yield from _as_text(bytes.fromhex(re.sub(r"\\x|\s", "", match.group(0))))
    if _PERCENT.search(text):
        yield urllib.parse.unquote(text)
    for match in _BINARY.finditer(text):
        bits = re.sub(r"\s", "", match.group(0))
        yield from _as_text(bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits) - 7, 8)))


def _as_text(data: bytes) -> Iterator[str]:
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    printable = sum(c.isprintable() or c.isspace() for c in decoded)
    if decoded and printable / len(decoded) >= MIN_PRINTABLE:
        yield decoded
