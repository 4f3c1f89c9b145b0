"""Right triangles by Pythagoras: a triangle's sides, a ladder or cable, a rectangle's diagonal."""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.measures import NUM, measures, shown, with_unit
from aivo.tutoring.numbers import number_text
from aivo.tutoring.solution import Solution

_RULE = "In a right triangle, leg² + leg² = hypotenuse²."
# A straight thing leaning from a wall or pole top to the ground: the hypotenuse.
_SLANT = r"(?:ladder|cable|wire|rope|ramp|string)"
_SLANT_LENGTH = re.compile(
    rf"\b({NUM})[- ]?(?:[a-z]+[- ])?(?:long )?{_SLANT}\b|\b{_SLANT} (?:is |that is |of )?({NUM})\b"
)
_SIDES = rf"\blong\b.*\bwide\b|\bwide\b.*\b(?:tall|high)\b|{NUM}\s*(?:[a-z]+ )?by {NUM}"
# The other side is a distance along the ground or up the wall, measured from the corner.
_LEG = rf"{NUM}\s*(?:[a-z]+ )?(?:away )?from\b|\breaches {NUM}|{NUM}\s*(?:[a-z]+ )?up\b|\btop of\b"
_UPRIGHT = r"\bwall|\bpole|\btree|\bground|\bbuilding|\bhouse|\btower"


def _hypotenuse(a: sympy.Rational, b: sympy.Rational, unit: str | None, problem: str) -> Solution:
    square = a**2 + b**2
    answer = sympy.sqrt(square)
    steps = (
        _RULE,
        f"{shown(a)}² + {shown(b)}² = {shown(a**2)} + {shown(b**2)} = {shown(square)}.",
        f"The hypotenuse is √{shown(square)} = {number_text(answer, decimal=True)}.",
    )
    return _solution(answer, unit, problem, steps)


def _missing_leg(
    c: sympy.Rational, a: sympy.Rational, unit: str | None, problem: str
) -> Solution | None:
    if c <= a:
        return None  # the hypotenuse is the longest side
    square = c**2 - a**2
    answer = sympy.sqrt(square)
    steps = (
        _RULE,
        f"So the missing leg² = {shown(c)}² - {shown(a)}² = {shown(c**2)} - {shown(a**2)} "
        f"= {shown(square)}.",
        f"The missing leg is √{shown(square)} = {number_text(answer, decimal=True)}.",
    )
    return _solution(answer, unit, problem, steps)


def _solution(
    answer: sympy.Expr, unit: str | None, problem: str, steps: tuple[str, ...]
) -> Solution:
    text_answer, unit_out = with_unit(answer, unit)
    if not answer.is_Rational:
        text_answer += f" (about {float(answer):.2f})"
    return Solution("pythagorean", problem, answer, text_answer, steps, unit_out)


def _triangle(text: str) -> Solution | None:
    if "hypotenuse" not in text and not re.search(r"right triangle.*\blegs?\b", text):
        return None
    values, unit = measures(re.sub(r"\b1 (?=leg|side)", "one ", text))  # "one leg is 5"
    if len(values) != 2 or min(values) <= 0:
        return None
    if not re.search(r"\b(?:other|missing|second|unknown|third) (?:leg|side)\b", text):
        if not re.search(r"\bhypotenuse\b|\blongest side\b", text) or re.search(
            r"\bperimeter|\barea", text
        ):
            return None  # "legs 3 and 4, what is its perimeter?" asks for more than one side
        a, b = values
        return _hypotenuse(
            a, b, unit, f"right triangle: legs {shown(a)} and {shown(b)}, hypotenuse?"
        )
    hyp = re.search(rf"hypotenuse (?:is |of |= |measures )?({NUM})", text)
    if not hyp:
        return None
    c = sympy.Rational(hyp.group(1))
    a = next((v for v in values if v != c), c)
    return _missing_leg(
        c, a, unit, f"right triangle: hypotenuse {shown(c)}, leg {shown(a)}, other leg?"
    )


def _slant(text: str) -> Solution | None:
    """A 13 ft ladder, its foot 5 ft from the wall: how high does it reach? (and the reverse)"""
    if not re.search(rf"\b{_SLANT}\b", text) or not re.search(_UPRIGHT, text):
        return None
    values, unit = measures(text)
    if len(values) != 2 or min(values) <= 0:
        return None
    attached = _SLANT_LENGTH.search(text)
    asks_slant = re.search(rf"\bhow long (?:is|must|should|will) (?:the |a |its )?{_SLANT}", text)
    if attached and not asks_slant:
        c = sympy.Rational(attached.group(1) or attached.group(2))
        if c not in values or not re.search(r"\bhow (?:high|tall|far|long)\b|\bheight\b", text):
            return None
        if not re.search(_LEG, text):
            return None  # "a 20 ft ladder and a 12 ft wall": it need not reach the wall's top
        a = next((v for v in values if v != c), c)
        return _missing_leg(c, a, unit, f"slanted side {shown(c)}, one leg {shown(a)}, other leg?")
    if asks_slant and not attached:
        a, b = values
        return _hypotenuse(a, b, unit, f"legs {shown(a)} and {shown(b)}, slanted side?")
    return None


def _diagonal(text: str) -> Solution | None:
    if "diagonal" not in text:
        return None
    values, unit = measures(text)
    if re.search(r"\bsquare\b", text) and "rectangle" not in text and len(values) == 1:
        values = values * 2
    elif "rectangle" not in text and not re.search(_SIDES, text):
        return None
    if len(values) != 2 or min(values) <= 0:
        return None
    a, b = values
    shape = "square" if a == b else "rectangle"
    return _hypotenuse(a, b, unit, f"diagonal of a {shown(a)} by {shown(b)} {shape}")


def recognise(text: str) -> Solution | None:
    for reading in (_triangle, _slant, _diagonal):
        solution = reading(text)
        if solution is not None:
            return solution
    return None
