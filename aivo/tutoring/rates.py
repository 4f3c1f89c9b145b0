"""Distance, speed and time: two of them given, the third asked.

"A train goes 60 miles per hour for 2.5 hours. How far does it go?", "A car drives 120 miles in 3
hours. How fast is it going?", "How long does it take to ride 30 km at 12 km per hour?". The time
must be in the unit the speed is per ("60 miles per hour for 90 minutes" is refused).
"""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.numbers import number_text
from aivo.tutoring.solution import Solution

_NUM = r"\d+(?:\.\d+)?"
_DISTANCES = {
    "mile": "miles",
    "kilometer": "kilometers",
    "km": "kilometers",
    "meter": "meters",
    "foot": "feet",
    "feet": "feet",
    "yard": "yards",
}
_DISTANCE = r"(?:miles?|kilometers?|kilometres?|km|meters?|metres?|feet|foot|yards?)"
_TIME = r"(?:hours?|hrs?|minutes?|mins?|seconds?|secs?)"
_PER = r"(?: ?/ ?| per | an? | each )"
_SPEED = re.compile(
    rf"(?P<speed>{_NUM}) ?(?:(?P<dist>{_DISTANCE}){_PER}(?P<per>hour|hr|minute|min|second|sec)"
    r"\b|(?P<mph>mph)\b|(?P<kmh>km/h|kph)\b)"
)
_DURATION = re.compile(rf"(?P<time>{_NUM}) (?P<unit>{_TIME})\b")
_LENGTH = re.compile(rf"(?P<distance>{_NUM}) (?P<unit>{_DISTANCE})\b(?!{_PER})")
_ASKS = {
    "distance": re.compile(r"\bhow far\b|\bwhat distance\b|\bhow many (?:miles|kilometers|meters)"),
    "speed": re.compile(
        r"\bhow fast\b|\bwhat (?:is|was) (?:its|his|her|their|the) (?:average )?speed"
    ),
    "time": re.compile(r"\bhow long\b|\bhow many (?:hours|minutes|seconds)\b"),
}


def recognise(text: str, grade: int | None) -> Solution | None:
    """The third of distance, speed and time, from the other two, in matching units."""
    if len(re.findall(_NUM, text)) != 2:
        return None
    asked = [name for name, pattern in _ASKS.items() if pattern.search(text)]
    if len(asked) != 1:
        return None
    speed = _SPEED.search(text)
    if asked[0] == "distance" and speed:
        return _distance(text, speed)
    if asked[0] == "time" and speed:
        return _time(text, speed)
    if asked[0] == "speed" and not speed:
        return _speed(text)
    return None


def _speed_units(speed: re.Match[str]) -> tuple[str, str]:
    """(distance unit, time unit) of a speed, both plural: ("miles", "hours")."""
    if speed.group("mph"):
        return "miles", "hours"
    if speed.group("kmh"):
        return "kilometers", "hours"
    return _plural_distance(speed.group("dist")), _plural_time(speed.group("per"))


def _plural_distance(unit: str) -> str:
    unit = unit.replace("metre", "meter")
    return _DISTANCES.get(unit, _DISTANCES.get(unit.removesuffix("s"), unit))


def _plural_time(unit: str) -> str:
    for name in ("hour", "minute", "second"):
        if unit.startswith(name[:3]) or (name == "hour" and unit.startswith("hr")):
            return f"{name}s"
    raise ValueError(unit)


def _distance(text: str, speed: re.Match[str]) -> Solution | None:
    duration = _DURATION.search(text[speed.end() :]) or _DURATION.search(text[: speed.start()])
    if duration is None:
        return None
    distance_unit, per = _speed_units(speed)
    if _plural_time(duration.group("unit")) != per:
        return None
    s, t = sympy.Rational(speed.group("speed")), sympy.Rational(duration.group("time"))
    return _solved("distance", s * t, distance_unit, "Distance = speed × time.", s, "×", t)


def _time(text: str, speed: re.Match[str]) -> Solution | None:
    rest = text[: speed.start()] + " " + text[speed.end() :]
    length = _LENGTH.search(rest)
    distance_unit, per = _speed_units(speed)
    if length is None or _plural_distance(length.group("unit")) != distance_unit:
        return None
    d, s = sympy.Rational(length.group("distance")), sympy.Rational(speed.group("speed"))
    if s == 0:
        return None
    return _solved("time", d / s, per, "Time = distance ÷ speed.", d, "÷", s)


def _speed(text: str) -> Solution | None:
    length, duration = _LENGTH.search(text), _DURATION.search(text)
    if length is None or duration is None:
        return None
    d, t = sympy.Rational(length.group("distance")), sympy.Rational(duration.group("time"))
    if t == 0:
        return None
    distance_unit = _plural_distance(length.group("unit"))
    per = _plural_time(duration.group("unit")).removesuffix("s")
    return _solved(
        "speed", d / t, f"{distance_unit} per {per}", "Speed = distance ÷ time.", d, "÷", t
    )


def _solved(
    asked: str,
    answer: sympy.Rational,
    unit: str,
    rule: str,
    a: sympy.Rational,
    op: str,
    b: sympy.Rational,
) -> Solution:
    sa, sb, sv = (number_text(v, decimal=True) for v in (a, b, answer))
    return Solution(
        "rate",
        f"the {asked}: {sa} {op} {sb}",
        answer,
        f"{sv} {unit}",
        (rule, f"{sa} {op} {sb} = {sv}."),
        unit,
    )
