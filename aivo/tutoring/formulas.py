"""Geometry formulas a K-12 learner meets: rectangle and square, box volume, Pythagoras, slope."""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.numbers import number_text
from aivo.tutoring.solution import Solution

_NUM = r"-?\d+(?:\.\d+)?"
_UNITS = {
    "mm": "mm", "cm": "cm", "m": "m", "km": "km", "in": "in", "ft": "ft", "yd": "yd",
    "millimeters": "mm", "centimeters": "cm", "meters": "m", "metres": "m", "kilometers": "km",
    "inches": "in", "inch": "in", "feet": "ft", "foot": "ft", "yards": "yd", "yard": "yd",
    "meter": "m", "centimeter": "cm", "units": "units", "unit": "units",
}  # fmt: skip
_MEASURE = re.compile(
    rf"(?<![\w.(,])({_NUM})\s*({'|'.join(sorted(_UNITS, key=len, reverse=True))})?\b"
)
_POINT = re.compile(rf"\(\s*({_NUM})\s*,\s*({_NUM})\s*\)")


def _measures(text: str) -> tuple[list[sympy.Rational], str | None]:
    found = _MEASURE.findall(text)
    units = {_UNITS[u] for _, u in found if u}
    return [sympy.Rational(n) for n, _ in found], units.pop() if len(units) == 1 else None


def _t(value: sympy.Expr) -> str:
    return number_text(value, decimal=True)


def _with_unit(value: sympy.Expr, unit: str | None, power: str = "") -> tuple[str, str | None]:
    if unit is None:
        return _t(value), None
    if unit == "units":
        name = {"": "units", "²": "square units", "³": "cubic units"}[power]
        return f"{_t(value)} {name}", name
    return f"{_t(value)} {unit}{power}", f"{unit}{power}"


def _rectangle(text: str) -> Solution | None:
    wants_area, wants_perimeter = "area" in text, "perimeter" in text
    if wants_area == wants_perimeter:
        return None
    (values, unit), square = _measures(text), re.search(r"\bsquare\b(?! root)", text)
    if ("rectangle" in text or re.search(r"\blong\b.*\bwide\b", text)) and len(values) == 2:
        length, width = values
    elif square and "rectangle" not in text and len(values) == 1:
        length = width = values[0]
    else:
        return None
    shape = "square" if len(set(values)) == 1 and square else "rectangle"
    sides = (length, width)
    if wants_area:
        working = f"{_t(length)} × {_t(width)}"
        rule = f"The area of a {shape} is length × width."
        return _measured("area", shape, sides, length * width, unit, "²", rule, working)
    working = " + ".join(_t(v) for v in (length, width, length, width))
    rule = "The perimeter is the distance all the way around: add all four sides."
    return _measured("perimeter", shape, sides, 2 * (length + width), unit, "", rule, working)


def _measured(
    kind: str,
    shape: str,
    sides: tuple[sympy.Rational, ...],
    answer: sympy.Rational,
    unit: str | None,
    power: str,
    rule: str,
    working: str,
) -> Solution:
    text_answer, unit_out = _with_unit(answer, unit, power)
    steps = (rule, f"{working} = {_t(answer)}, so the {kind} is {text_answer}.")
    problem = f"{kind} of a {' by '.join(_t(v) for v in sides)} {shape}"
    return Solution(kind, problem, answer, text_answer, steps, unit_out)


def _box(text: str) -> Solution | None:
    if "volume" not in text or not re.search(r"\bbox\b|\bprism\b|\bcuboid\b|\bcube\b", text):
        return None
    values, unit = _measures(text)
    if re.search(r"\bcube\b", text) and len(values) == 1:
        values = values * 3
    if len(values) != 3:
        return None
    rule = "The volume of a box is length × width × height."
    working = " × ".join(_t(v) for v in values)
    answer = values[0] * values[1] * values[2]
    return _measured("volume", "box", tuple(values), answer, unit, "³", rule, working)


def _pythagoras(text: str) -> Solution | None:
    if "hypotenuse" not in text and not re.search(r"right triangle.*\blegs?\b", text):
        return None
    values, unit = _measures(re.sub(r"\b1 (?=leg|side)", "one ", text))  # "one leg is 5"
    if len(values) != 2 or min(values) <= 0:
        return None
    missing_leg = re.search(r"\b(?:other|missing|second|unknown|third) (?:leg|side)\b", text)
    if missing_leg:
        hyp = re.search(rf"hypotenuse (?:is |of |= |measures )?({_NUM})", text)
        if not hyp:
            return None
        c = sympy.Rational(hyp.group(1))
        a = next((v for v in values if v != c), c)
        if c <= a:
            return None
        square = c**2 - a**2
        answer = sympy.sqrt(square)
        steps = (
            "In a right triangle, leg² + leg² = hypotenuse².",
            f"So the missing leg² = {_t(c)}² - {_t(a)}² = {_t(c**2)} - {_t(a**2)} = {_t(square)}.",
            f"The missing leg is √{_t(square)} = {number_text(answer, decimal=True)}.",
        )
        problem = f"right triangle: hypotenuse {_t(c)}, leg {_t(a)}, other leg?"
        kind = "pythagorean"
    else:
        a, b = values
        square = a**2 + b**2
        answer = sympy.sqrt(square)
        steps = (
            "In a right triangle, leg² + leg² = hypotenuse².",
            f"{_t(a)}² + {_t(b)}² = {_t(a**2)} + {_t(b**2)} = {_t(square)}.",
            f"The hypotenuse is √{_t(square)} = {number_text(answer, decimal=True)}.",
        )
        problem = f"right triangle: legs {_t(a)} and {_t(b)}, hypotenuse?"
        kind = "pythagorean"
    text_answer, unit_out = _with_unit(answer, unit)
    if not answer.is_Rational:
        text_answer += f" (about {float(answer):.2f})"
    return Solution(kind, problem, answer, text_answer, steps, unit_out)


def _minus(a: sympy.Rational, b: sympy.Rational) -> str:
    return f"{_t(a)} - ({_t(b)})" if b < 0 else f"{_t(a)} - {_t(b)}"


def _slope(text: str) -> Solution | None:
    if "slope" not in text:
        return None
    points = _POINT.findall(text)
    if len(points) != 2:
        return None
    (x1, y1), (x2, y2) = ((sympy.Rational(x), sympy.Rational(y)) for x, y in points)
    if x1 == x2:
        return None  # a vertical line has no slope number
    rise, run = y2 - y1, x2 - x1
    answer = rise / run
    steps = (
        "Slope = change in y ÷ change in x.",
        f"Change in y: {_minus(y2, y1)} = {_t(rise)}.",
        f"Change in x: {_minus(x2, x1)} = {_t(run)}.",
        f"Slope = {_t(rise)} ÷ {_t(run)} = {number_text(answer)}.",
    )
    problem = f"slope between ({_t(x1)}, {_t(y1)}) and ({_t(x2)}, {_t(y2)})"
    return Solution("slope", problem, answer, number_text(answer), steps)


def recognise(text: str, grade: int | None) -> Solution | None:
    for recogniser in (_slope, _pythagoras, _box, _rectangle):
        solution = recogniser(text)
        if solution is not None:
            return solution
    return None
