"""Unit conversions within one system: "How many minutes are in 3 hours?", "Convert 5 km to m".

Each unit is a whole number of the smallest unit of its kind; a conversion between kinds or
systems (inches to centimeters, cups to liters) is refused, as its factors are not exact.
"""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.numbers import number_text
from aivo.tutoring.solution import Solution

_NUM = r"\d+(?:\.\d+)?"
# kind -> unit -> (size in the kind's smallest unit, singular, plural)
_UNITS: dict[str, dict[str, tuple[int, str, str]]] = {
    "time": {
        "second": (1, "second", "seconds"),
        "minute": (60, "minute", "minutes"),
        "hour": (3600, "hour", "hours"),
        "day": (86400, "day", "days"),
        "week": (604800, "week", "weeks"),
    },
    "metric length": {
        "millimeter": (1, "millimeter", "millimeters"),
        "centimeter": (10, "centimeter", "centimeters"),
        "meter": (1000, "meter", "meters"),
        "kilometer": (1_000_000, "kilometer", "kilometers"),
    },
    "customary length": {
        "inch": (1, "inch", "inches"),
        "foot": (12, "foot", "feet"),
        "yard": (36, "yard", "yards"),
        "mile": (63360, "mile", "miles"),
    },
    "metric mass": {
        "milligram": (1, "milligram", "milligrams"),
        "gram": (1000, "gram", "grams"),
        "kilogram": (1_000_000, "kilogram", "kilograms"),
    },
    "customary weight": {
        "ounce": (1, "ounce", "ounces"),
        "pound": (16, "pound", "pounds"),
        "ton": (32000, "ton", "tons"),
    },
    "metric volume": {
        "milliliter": (1, "milliliter", "milliliters"),
        "liter": (1000, "liter", "liters"),
    },
    "customary volume": {
        "cup": (1, "cup", "cups"),
        "pint": (2, "pint", "pints"),
        "quart": (4, "quart", "quarts"),
        "gallon": (16, "gallon", "gallons"),
    },
}
# how learners write them -> the unit's name (no one-letter abbreviations: "m" is too often
# something else, and "in" is a word)
_NAMES = {
    **{u: u for kind in _UNITS.values() for u in kind},
    **{plural: u for kind in _UNITS.values() for u, (_, _, plural) in kind.items()},
    **dict.fromkeys(("sec", "secs"), "second"),
    **dict.fromkeys(("min", "mins"), "minute"),
    **dict.fromkeys(("hr", "hrs"), "hour"),
    **{"mm": "millimeter", "cm": "centimeter", "km": "kilometer", "ft": "foot"},
    **dict.fromkeys(("yd", "yds"), "yard"),
    **{"mg": "milligram", "kg": "kilogram", "oz": "ounce", "ml": "milliliter"},
    **dict.fromkeys(("lb", "lbs"), "pound"),
}
_SPELLINGS = _NAMES | {  # metre, litre
    name.replace("meter", "metre").replace("liter", "litre"): unit
    for name, unit in _NAMES.items()
    if "meter" in name or "liter" in name
}
_KIND = {unit: kind for kind, units in _UNITS.items() for unit in units}
_UNIT = "|".join(sorted(map(re.escape, _SPELLINGS), key=len, reverse=True))
_QUESTIONS = (
    # how many minutes are in 3 hours; how many feet is 36 inches; how many cups make 2 quarts
    re.compile(
        rf"\bhow many (?P<to>{_UNIT}) (?:are |is )?(?:there )?(?:in|is|are|equals?|make|makes) "
        rf"(?P<n>{_NUM}) (?P<from>{_UNIT})\b"
    ),
    # convert 5 km to meters; change 3 feet into inches
    re.compile(
        rf"\b(?:convert|change|turn) (?P<n>{_NUM}) (?P<from>{_UNIT}) (?:in)?to (?P<to>{_UNIT})\b"
    ),
    # 3 hours is how many minutes; what is 5 km in meters
    re.compile(
        rf"(?<![\d.])(?P<n>{_NUM}) (?P<from>{_UNIT}) (?:is|are|equals?|=|in) "
        rf"(?:how many |equal to how many )?(?P<to>{_UNIT})\b"
    ),
)


def recognise(text: str, grade: int | None) -> Solution | None:
    """A number of one unit in another of the same kind and system."""
    for question in _QUESTIONS:
        found = question.search(text)
        if found is not None:
            break
    else:
        return None
    if len(re.findall(_NUM, text)) != 1:
        return None  # another number in the question: not only a conversion
    source, target = _SPELLINGS[found.group("from")], _SPELLINGS[found.group("to")]
    if source == target or _KIND[source] != _KIND[target]:
        return None
    amount = sympy.Rational(found.group("n"))
    size_from, one, many = _UNITS[_KIND[source]][source]
    size_to, target_one, target_many = _UNITS[_KIND[target]][target]
    answer = amount * size_from / size_to
    shown, answer_text = (number_text(v, decimal=True) for v in (amount, answer))
    named = f"{shown} {one if amount == 1 else many}"
    result = f"{answer_text} {target_one if answer == 1 else target_many}"
    if size_from > size_to:
        factor = number_text(sympy.Integer(size_from // size_to))
        steps = (
            f"Each {one} is {factor} {target_many}, so multiply by {factor}.",
            f"{shown} × {factor} = {answer_text}.",
        )
    else:
        factor = number_text(sympy.Integer(size_to // size_from))
        steps = (
            f"Each {target_one} is {factor} {many}, so divide by {factor}.",
            f"{shown} ÷ {factor} = {answer_text}.",
        )
    return Solution(
        "conversion",
        f"{named} in {target_many}",
        answer,
        result,
        (*steps, f"So {named} is {result}."),
        target_many,
    )
