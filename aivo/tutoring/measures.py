"""Lengths as learners write them: numbers with units, and answers shown with their unit."""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.numbers import number_text

NUM = r"-?\d+(?:\.\d+)?"
_UNITS = {
    "mm": "mm", "cm": "cm", "m": "m", "km": "km", "in": "in", "ft": "ft", "yd": "yd",
    "millimeters": "mm", "centimeters": "cm", "meters": "m", "metres": "m", "kilometers": "km",
    "inches": "in", "inch": "in", "feet": "ft", "foot": "ft", "yards": "yd", "yard": "yd",
    "meter": "m", "centimeter": "cm", "units": "units", "unit": "units",
}  # fmt: skip
_MEASURE = re.compile(
    rf"(?<![\w.(,])({NUM})\s*({'|'.join(sorted(_UNITS, key=len, reverse=True))})?\b"
)


def measures(text: str) -> tuple[list[sympy.Rational], str | None]:
    found = _MEASURE.findall(text)
    units = {_UNITS[u] for _, u in found if u}
    return [sympy.Rational(n) for n, _ in found], units.pop() if len(units) == 1 else None


def shown(value: sympy.Expr) -> str:
    return number_text(value, decimal=True)


def with_unit(value: sympy.Expr, unit: str | None, power: str = "") -> tuple[str, str | None]:
    if unit is None:
        return shown(value), None
    if unit == "units":
        name = {"": "units", "²": "square units", "³": "cubic units"}[power]
        return f"{shown(value)} {name}", name
    return f"{shown(value)} {unit}{power}", f"{unit}{power}"
