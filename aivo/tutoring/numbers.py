"""Numbers as children write and read them: number words, fractions, decimals, percents."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_PLAIN_OPERATORS = str.maketrans("×·÷−–", "**/--")
_WORD_VALUE = {w: i for i, w in enumerate(_ONES)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_SCALE = {"hundred": 100, "thousand": 1000}
FRACTION_WORDS = {"half": 2, "third": 3, "quarter": 4, "fourth": 4, "fifth": 5, "sixth": 6}
FRACTION_WORDS |= {"seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}
# An operation named in words the checker did not read ("the reciprocal of 3/4"): never ignore it.
UNREAD_OPERATION = re.compile(
    rf"\b(?:{'|'.join(FRACTION_WORDS)}|halve|doubled?|twice|tripled?|thrice|reciprocal|opposite|"
    r"absolute|average|mean|median|round|rounded|estimate|remainder|square|cube|root|percent|"
    r"increased?|decreased?|more than|less than|fewer than)s?\b|%"
)

_WORD = "|".join(sorted(_WORD_VALUE, key=len, reverse=True))
# "fifty-six", "one hundred and twenty", "three thousand": a run of number words.
_NUMBER_WORDS = re.compile(
    rf"\b(?:{_WORD}|hundred|thousand)(?:(?:[\s-]+|\s+and\s+)(?:{_WORD}|hundred|thousand))*\b"
)


def _words_value(phrase: str) -> int | None:
    total, current = 0, 0
    for word in re.split(r"[\s-]+", phrase):
        if word == "and":
            continue
        if word in _SCALE:
            current = max(current, 1) * _SCALE[word]
            if _SCALE[word] == 1000:
                total, current = total + current, 0
        elif word in _WORD_VALUE:
            value = _WORD_VALUE[word]
            # "five six" is two numbers, not fifty-six: a word may only add to a larger tens part.
            if current % 100 and (value >= 10 or current % 10):
                return None
            current += value
        else:
            return None
    return total + current


def plain_operators(text: str) -> str:
    """Unicode operators to ASCII: × and · to *, ÷ to /, minus signs and dashes to -."""
    return text.translate(_PLAIN_OPERATORS)


def words_to_digits(text: str) -> str:
    """Replace number words with digits ("fifty-six" -> "56"); lower-cases the text."""

    def replace(match: re.Match[str]) -> str:
        value = _words_value(match.group(0))
        if value is None:  # "thirteen and nineteen": two numbers, read one word at a time
            return re.sub(
                rf"\b(?:{_WORD})\b", lambda w: str(_WORD_VALUE[w.group(0)]), match.group(0)
            )
        return str(value)

    return _NUMBER_WORDS.sub(replace, text.lower())


def number_words(value: int) -> str:
    """56 -> "fifty-six" (0..9999)."""
    if value < 20:
        return _ONES[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return _TENS[tens - 2] + (f"-{_ONES[ones]}" if ones else "")
    if value < 1000:
        hundreds, rest = divmod(value, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_words(rest)}" if rest else "")
    thousands, rest = divmod(value, 1000)
    return f"{number_words(thousands)} thousand" + (f" {number_words(rest)}" if rest else "")


@dataclass(frozen=True)
class NumberToken:
    """A number read from text, where it stood and how it was written."""

    value: sympy.Rational
    start: int
    end: int
    percent: bool = False
    fraction: tuple[int, int] | None = None


# "-$1,200.50", "3 1/2", "3/4", "50%", "2.5"; bounded digits: text never builds huge numbers.
NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>-)?\$?(?:(?P<whole>\d{1,15}) (?P<mnum>\d{1,6})/(?P<mden>\d{1,6})(?![\d/])"
    r"|(?P<num>\d{1,6})/(?P<den>\d{1,6})(?![\d/])"
    r"|(?P<int>\d{1,3}(?:,\d{3}){1,4}|\d{1,15})(?:\.(?P<dec>\d{1,30})(?!\d))?)(?P<pct>\s?(?:%|percent))?"
    r"(?![a-z]\b)"  # 2x is a term, not a number
)


def read_numbers(text: str) -> list[NumberToken]:
    """Every number in text (already lower-cased, words turned to digits), in order."""
    tokens = []
    for match in NUMBER.finditer(text):
        sign = -1 if match.group("sign") else 1
        fraction = None
        if match.group("mden"):
            den = int(match.group("mden"))
            if den == 0:
                continue
            value = int(match.group("whole")) + sympy.Rational(int(match.group("mnum")), den)
        elif match.group("den"):
            num, den = int(match.group("num")), int(match.group("den"))
            if den == 0:
                continue
            value, fraction = sympy.Rational(num, den), (num, den)
        else:
            digits = match.group("int").replace(",", "")
            value = sympy.Rational(f"{digits}.{match.group('dec') or 0}")
        tokens.append(
            NumberToken(
                sympy.Rational(sign * value),
                match.start(),
                match.end(),
                bool(match.group("pct")),
                fraction,
            )
        )
    return tokens


def is_terminating(value: sympy.Rational) -> bool:
    den = int(value.q)
    for prime in (2, 5):
        while den % prime == 0:
            den //= prime
    return den == 1


def decimal_text(value: sympy.Rational) -> str:
    """An exact terminating decimal: 5/2 -> "2.5"."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    whole, rest = divmod(int(value.p), int(value.q))
    if rest == 0:
        return f"{sign}{whole}"
    digits = ""
    while rest:
        rest *= 10
        digit, rest = divmod(rest, int(value.q))
        digits += str(digit)
    return f"{sign}{whole}.{digits}"


def number_text(value: sympy.Expr, *, decimal: bool = False, mixed: bool = False) -> str:
    """How a child reads an exact value: "56", "-3/4", "2.5", "3 1/2", "5√2"."""
    if isinstance(value, sympy.Integer):
        return str(int(value))
    if isinstance(value, sympy.Rational):
        if decimal and is_terminating(value):
            return decimal_text(value)
        sign = "-" if value < 0 else ""
        p, q = abs(int(value.p)), int(value.q)
        if mixed and p > q:
            return f"{sign}{p // q} {p % q}/{q}"
        return f"{sign}{p}/{q}"
    coefficient, radical = value.as_coeff_Mul()
    if isinstance(radical, sympy.Pow) and radical.exp == sympy.Rational(1, 2):
        prefix = "" if coefficient == 1 else number_text(coefficient)
        return f"{prefix}√{radical.base}"
    return str(value)
