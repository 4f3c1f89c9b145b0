"""Geometry formulas a K-12 learner meets: rectangle and square, box volume, slope (right
triangles in `right_triangles`)."""

from __future__ import annotations

import re
from collections.abc import Callable

import sympy

from aivo.tutoring import right_triangles
from aivo.tutoring.measures import NUM, measures, shown, with_unit
from aivo.tutoring.numbers import number_text
from aivo.tutoring.solution import Solution

_POINT = re.compile(rf"\(\s*({NUM})\s*,\s*({NUM})\s*\)")
# Going all the way around a shape is its perimeter: a fence, a border, trim.
_AROUND = r"\bperimeter\b|\ball the way around\b|\bfenc(?:e|ing)\b|\bborder\b|\btrim\b"
# The measure a formula gives is stated ("a perimeter of 20 cm"): the problem runs it backwards.
_STATED = (
    r"\b(?:perimeter|area|volume|diagonal)(?: of (?:the |a |an |its )?[a-z]+)?\s+"
    rf"(?:is|of|=|measures|was)\s+(?:about )?{NUM}"
)
# A side is asked for ("what is its width?"): not a perimeter, area or volume.
_ASKS_SIDE = (
    r"\b(?:what is|find) (?:its|the) (?:width|length|height|side)|"
    r"\bhow (?:wide|tall|high|long) is (?:it|its|the)\b"
)
_BY = rf"{NUM}\s*(?:[a-z]+ )?by {NUM}"  # "15 feet by 8 feet"
_BOX = r"\bbox\b|\bprism\b|\bcuboid\b|\bcube\b|\btank\b|\baquarium\b|\bcontainer\b|\bcrate\b"


def _rectangle(text: str) -> Solution | None:
    wants_area, wants_perimeter = "area" in text, bool(re.search(_AROUND, text))
    if wants_area == wants_perimeter:
        return None
    (values, unit), square = measures(text), re.search(r"\bsquare\b(?! root)", text)
    rectangle = "rectangle" in text or re.search(rf"\blong\b.*\bwide\b|{_BY}", text)
    if rectangle and "triangle" not in text and len(values) == 2:
        length, width = values
    elif square and "rectangle" not in text and len(values) == 1:
        length = width = values[0]
    else:
        return None
    shape = "square" if len(set(values)) == 1 and square else "rectangle"
    sides = (length, width)
    if wants_area:
        working = f"{shown(length)} × {shown(width)}"
        rule = f"The area of a {shape} is length × width."
        return _measured("area", shape, sides, length * width, unit, "²", rule, working)
    working = " + ".join(shown(v) for v in (length, width, length, width))
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
    text_answer, unit_out = with_unit(answer, unit, power)
    steps = (rule, f"{working} = {shown(answer)}, so the {kind} is {text_answer}.")
    problem = f"{kind} of a {' by '.join(shown(v) for v in sides)} {shape}"
    return Solution(kind, problem, answer, text_answer, steps, unit_out)


def _triangle_perimeter(text: str) -> Solution | None:
    if not re.search(r"\btriangle\b", text) or not re.search(_AROUND, text) or "area" in text:
        return None
    values, unit = measures(text)
    if re.search(r"\bequilateral\b", text) and len(values) == 1:
        values = values * 3
    if len(values) != 3 or 2 * max(values) >= sum(values) or min(values) <= 0:
        return None  # not three sides of a triangle
    rule = "The perimeter is the distance all the way around: add the three sides."
    working = " + ".join(shown(v) for v in values)
    return _measured("perimeter", "triangle", tuple(values), sum(values), unit, "", rule, working)


def _box(text: str) -> Solution | None:
    shaped = re.search(_BOX, text) or re.search(r"\blong\b.*\bwide\b.*\b(?:tall|high|deep)\b", text)
    if not re.search(r"\bvolume\b|\bcubic\b", text) or not shaped:
        return None
    values, unit = measures(text)
    if re.search(r"\bcube\b", text) and len(values) == 1:
        values = values * 3
    if len(values) != 3:
        return None
    rule = "The volume of a box is length × width × height."
    working = " × ".join(shown(v) for v in values)
    answer = values[0] * values[1] * values[2]
    return _measured("volume", "box", tuple(values), answer, unit, "³", rule, working)


def _minus(a: sympy.Rational, b: sympy.Rational) -> str:
    return f"{shown(a)} - ({shown(b)})" if b < 0 else f"{shown(a)} - {shown(b)}"


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
        f"Change in y: {_minus(y2, y1)} = {shown(rise)}.",
        f"Change in x: {_minus(x2, x1)} = {shown(run)}.",
        f"Slope = {shown(rise)} ÷ {shown(run)} = {number_text(answer)}.",
    )
    problem = f"slope between ({shown(x1)}, {shown(y1)}) and ({shown(x2)}, {shown(y2)})"
    return Solution("slope", problem, answer, number_text(answer), steps)


def recognise(text: str, grade: int | None) -> Solution | None:
    if re.search(_STATED, text):
        return None
    readings: tuple[Callable[[str], Solution | None], ...] = (_slope, right_triangles.recognise)
    if not re.search(_ASKS_SIDE, text):
        readings += (_box, _triangle_perimeter, _rectangle)
    for recogniser in readings:
        solution = recogniser(text)
        if solution is not None:
            return solution
    return None
