"""Rounding to a place: "Round 3,847 to the nearest hundred", "7.46 rounded to the nearest tenth".

A number halfway between rounds up, as schools teach it; a negative number is refused (which
way is "up" is for a person to read).
"""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.numbers import number_text
from aivo.tutoring.solution import Solution

_NUM = r"\d+(?:\.\d+)?"
# after to_symbols: "hundred" is 100, "ten thousand" 10000, "one" 1
_PLACES = {
    "1": (sympy.Integer(1), "whole number"),
    "whole number": (sympy.Integer(1), "whole number"),
    "whole": (sympy.Integer(1), "whole number"),
    "integer": (sympy.Integer(1), "whole number"),
    "tenth": (sympy.Rational(1, 10), "tenth"),
    "hundredth": (sympy.Rational(1, 100), "hundredth"),
    "thousandth": (sympy.Rational(1, 1000), "thousandth"),
    **{
        str(10**k): (sympy.Integer(10**k), name)
        for k, name in enumerate(
            ("ten", "hundred", "thousand", "ten thousand", "hundred thousand", "million"), 1
        )
    },
}
_PLACE = "|".join(sorted(map(re.escape, _PLACES), key=len, reverse=True))
_ROUND = re.compile(
    rf"(?<![\d.-])(?:\bround(?:ed)? (?P<a>{_NUM}) to|(?P<b>{_NUM}) rounded to) the nearest "
    rf"(?P<place>{_PLACE})s?\b(?! ?\d)"
)
# the place the deciding digit sits in, named by the size of that place
_DIGIT_PLACE = {
    sympy.Integer(10**k): name
    for k, name in enumerate(
        ("ones", "tens", "hundreds", "thousands", "ten thousands", "hundred thousands", "millions")
    )
} | {
    sympy.Rational(1, 10): "tenths",
    sympy.Rational(1, 100): "hundredths",
    sympy.Rational(1, 1000): "thousandths",
    sympy.Rational(1, 10000): "ten thousandths",
}


def recognise(text: str, grade: int | None) -> Solution | None:
    """Round a number to the nearest ten, hundred, ..., whole number, tenth, hundredth."""
    found = _ROUND.search(text)
    if found is None:
        return None
    outside = text[: found.start("place")] + text[found.end("place") :]
    if len(re.findall(_NUM, outside)) != 1:
        return None  # a second number (to round, or for another problem) is not this problem
    number = sympy.Rational(found.group("a") or found.group("b"))
    place, place_name = _PLACES[found.group("place")]
    deciding_place = place / 10
    if deciding_place not in _DIGIT_PLACE:
        return None
    lower = sympy.floor(number / place) * place
    upper = lower + place
    digit = int(sympy.floor(number / deciding_place)) % 10
    up = digit >= 5
    answer = upper if up else lower
    shown = [number_text(v, decimal=True) for v in (number, lower, upper, answer)]
    nearest = f"nearest {place_name}"
    way = f"{digit} is 5 or more, so round up" if up else f"{digit} is less than 5, so round down"
    return Solution(
        "rounding",
        f"{shown[0]} to the {nearest}",
        answer,
        shown[3],
        (  # the first two steps lead to the answer without naming it (a hint shows them)
            f"Look at the digit to the right of the {_DIGIT_PLACE[place]} place in {shown[0]}: "
            f"the {_DIGIT_PLACE[deciding_place]} digit, {digit}.",
            f"{way}.",
            f"{shown[0]} is between {shown[1]} and {shown[2]}; it rounds to {shown[3]}.",
        ),
    )
