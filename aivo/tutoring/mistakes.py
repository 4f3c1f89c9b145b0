"""Name the likely slip behind a wrong answer to a one-operation problem, where it is cheap."""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.solution import Solution

_OPERAND = r"\(?(-?\d+(?:\.\d+)?(?:/\d+)?)\)?"
_ONE_OPERATION = re.compile(rf"{_OPERAND} ([+\-×÷]) {_OPERAND}")
_VERBS = {"+": "added", "-": "subtracted", "×": "multiplied", "÷": "divided"}
_MEANT = {"+": "adding", "-": "subtracting", "×": "multiplying", "÷": "dividing"}


def likely_mistake(solution: Solution, answer: sympy.Expr) -> str | None:
    """ "you added instead of multiplying" when a wrong answer to 7 × 8 is 15; else None."""
    found = _ONE_OPERATION.fullmatch(solution.problem)
    if found is None or answer == solution.answer:
        return None
    a, op, b = sympy.Rational(found.group(1)), found.group(2), sympy.Rational(found.group(3))
    results = {"+": a + b, "-": a - b, "×": a * b, "÷": a / b if b else None}
    if op == "-":
        results["-"] = b - a  # the other order is its own slip
    for other, value in results.items():
        if value is not None and value == answer:
            if other == op:
                return "you subtracted the smaller number from the bigger one: order matters"
            return f"you {_VERBS[other]} instead of {_MEANT[op]}"
    return None
