"""The fraction of a whole cut into equal parts: "A pizza is cut into 8 slices. Sam eats 3.
What fraction of the pizza is left?"."""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.numbers import number_text
from aivo.tutoring.solution import Solution

_PARTS = r"(?:equal )?(?:slices|pieces|parts|sections|squares|bars|segments)"
_WHOLE = re.compile(
    rf"\b(?:cut|divided|split|broken|sliced|shared|folded) (?:up )?into (?P<whole>\d+) {_PARTS}"
    rf"|\b(?:has|have|had|with) (?P<whole2>\d+) {_PARTS}"
)
_DONE = r"(?:eat|ate|eaten|take|took|taken|use|used|colou?red|paint|painted|shaded|sold|gone)"
_TAKEN = re.compile(
    r"\b(?:eats?|ate|takes?|took|uses?|used|colou?rs?|paints?|shades?|gives? away|gave away|"
    r"sells?|sold)\b(?: \w+){0,2}? (?P<part>\d+)\b"
    rf"|\b(?P<part2>\d+)(?: \w+){{0,2}}? (?:are|were|is|was|got|get|have been|has been) {_DONE}\b"
)
_ASKED = re.compile(r"\bwhat fraction\b|\bwhat part\b")
_REST = re.compile(r"\bleft\b|\bremains?\b|\bremaining\b|\bnot\b|\bleftover\b")


def recognise(text: str, grade: int | None) -> Solution | None:
    """The fraction taken, or left, of a whole in equal parts; exactly those two numbers."""
    whole_match, taken, asked = _WHOLE.search(text), _TAKEN.search(text), _ASKED.search(text)
    if not (whole_match and taken and asked):
        return None
    if len(re.findall(r"\d+(?:\.\d+)?", text)) != 2:
        return None
    whole = sympy.Integer(whole_match.group("whole") or whole_match.group("whole2"))
    part = sympy.Integer(taken.group("part") or taken.group("part2"))
    if not 0 < part <= whole:
        return None
    sw, sp = number_text(whole), number_text(part)
    steps: tuple[str, ...]
    if _REST.search(text, asked.start()):  # what the question asks about, not the story
        rest = whole - part
        sr = number_text(rest)
        steps = (
            f"The whole is {sw} equal parts, and {sp} of them {'is' if part == 1 else 'are'} gone.",
            f"{sw} - {sp} = {sr} parts are left.",
            f"{sr} of the {sw} parts is {sr}/{sw}.",
        )
        answer, count, asked_for = rest / whole, sr, "left"
    else:
        steps = (
            f"The whole is {sw} equal parts, and the question asks about {sp} of them.",
            f"{sp} of the {sw} parts is {sp}/{sw}.",
        )
        answer, count, asked_for = part / whole, sp, "taken"
    if answer.q != whole:  # 8/12 is 2/3
        steps = (*steps, f"{count}/{sw} = {number_text(answer)} in simplest form.")
    return Solution(
        "fraction_of_whole",
        f"the fraction {asked_for}: {sp} of {sw} equal parts taken",
        answer,
        number_text(answer),
        steps,
    )
