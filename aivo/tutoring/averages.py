"""A list of numbers' mean (average), median or range: "What is the mean of 4, 8, 10 and 14?"."""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.numbers import number_text
from aivo.tutoring.solution import Solution

_NUM = r"-?\d+(?:\.\d+)?"
_LIST = rf"{_NUM}(?:\s*,\s*(?:and\s+)?{_NUM}|\s+and\s+{_NUM})+"
_ASKED = re.compile(
    r"\b(?P<measure>mean|average|median|range)\b(?: (?:value|score|number))?"
    r"(?: of| for)(?: the| these| this)?(?: numbers?| data(?: set)?| set| scores| values| list)?"
    rf":?\s+(?P<list>{_LIST})"
)
# "My scores were 72, 88 and 95. What is my average?": the list first, the measure after it
_LISTED = re.compile(rf"(?P<list>{_LIST})")
_ASKED_AFTER = re.compile(
    r"\b(?:what(?: is|'s| was)|find|calculate|work out) (?:my|the|their|his|her|our|its) "
    r"(?P<measure>mean|average|median|range)\b(?! of)"
)


def recognise(text: str, grade: int | None) -> Solution | None:
    """The mean, median or range of the numbers listed after the measure's name; only when the
    question holds no other number (a count or a unit that might change what is measured)."""
    listed = measure_match = _ASKED.search(text)
    if listed is None:
        listed, measure_match = _LISTED.search(text), _ASKED_AFTER.search(text)
    if listed is None or measure_match is None or listed.start() > measure_match.start():
        return None
    values = [sympy.Rational(n) for n in re.findall(_NUM, listed.group("list"))]
    if len(re.findall(r"\d+(?:\.\d+)?", text)) != len(values):
        return None
    shown = [number_text(v, decimal=True) for v in values]
    measure = measure_match.group("measure")
    if measure in ("mean", "average"):
        return _mean(values, shown)
    if measure == "median":
        return _median(values)
    return _range(values)


def _mean(values: list[sympy.Rational], shown: list[str]) -> Solution:
    total = sum(values, sympy.Integer(0))
    answer = total / len(values)
    count, total_text, answer_text = (
        number_text(v, decimal=True) for v in (sympy.Integer(len(values)), total, answer)
    )
    return Solution(
        "mean",
        f"the mean of {', '.join(shown)}",
        answer,
        answer_text,
        (
            f"Add the numbers: {' + '.join(shown)} = {total_text}.",
            f"There are {count} numbers, so divide the sum by {count}: "
            f"{total_text} ÷ {count} = {answer_text}.",
        ),
    )


def _median(values: list[sympy.Rational]) -> Solution:
    ordered = sorted(values)
    shown = [number_text(v, decimal=True) for v in ordered]
    middle = len(ordered) // 2
    if len(ordered) % 2:
        answer = ordered[middle]
        last = f"The middle number is {shown[middle]}, so the median is {shown[middle]}."
    else:
        a, b = ordered[middle - 1], ordered[middle]
        answer = (a + b) / 2
        sa, sb = (number_text(v, decimal=True) for v in (a, b))
        last = (
            f"The two middle numbers are {sa} and {sb}; the median is halfway between them: "
            f"({sa} + {sb}) ÷ 2 = {number_text(answer, decimal=True)}."
        )
    return Solution(
        "median",
        f"the median of {', '.join(shown)}",
        answer,
        number_text(answer, decimal=True),
        (f"Put the numbers in order: {', '.join(shown)}.", last),
    )


def _range(values: list[sympy.Rational]) -> Solution:
    high, low = max(values), min(values)
    answer = high - low
    sh, sl, sa = (number_text(v, decimal=True) for v in (high, low, answer))
    return Solution(
        "range",
        f"the range of {', '.join(number_text(v, decimal=True) for v in values)}",
        answer,
        sa,
        (
            f"The greatest number is {sh} and the least is {sl}.",
            f"Subtract the least from the greatest: {sh} - {sl} = {sa}.",
        ),
    )
