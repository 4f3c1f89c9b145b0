"""One-step word problems: read the operation from the story, or refuse."""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.numbers import UNREAD_OPERATION, number_text
from aivo.tutoring.solution import Solution

_NUM = r"\d+(?:\.\d+)?"
_TAKE = (
    r"\b(?:gives?|gave|giving) away|\bgave\b|\bgives\b|\beats?\b|\bate\b|\blos(?:es|t|e)\b|"
    r"\bus(?:es|ed)\b|\bspen(?:ds|t)\b|\bsel(?:ls|d)\b|\bsold\b|\btakes? away|\btook away|"
    r"\bbr(?:eaks|oke)\b|\bfl(?:ies|ew) away|\bpop(?:s|ped)\b|\bdrop(?:s|ped)\b|\bleave\b"
)
_GET = (
    r"\bgets?\b|\bgot\b|\bfinds?\b|\bfound\b|\bbuys?\b|\bbought\b|\breceived?s?\b|\bwas given\b|"
    r"\bis given\b|\bearn(?:s|ed)\b|\bpick(?:s|ed)\b|\bmakes? \d+ more|\bmore\b|\bjoin(?:s|ed)\b"
)
_SHARE = r"\b(?:shared?|split|splits|divided?|divides|shares|deal(?:s|t)?|equally|evenly)\b"
_EACH = r"\beach\b|\bper\b|\bevery\b"
_ALL = r"\bin all\b|\baltogether\b|\btotal\b|\bin total\b"
_NOT_UNITS = {"are", "is", "does", "do", "did", "will", "can", "in", "of", "more", "each", "and"}
_NOT_UNITS |= {"was", "were", "has", "have", "had", "there", "remains"}


def _unit(text: str, number: str) -> str | None:
    asked = re.search(r"\bhow many ([a-z]+)(?: ([a-z]+s)\b)?", text)
    if asked and asked.group(1) not in _NOT_UNITS:
        second = asked.group(2)
        return (
            f"{asked.group(1)} {second}" if second and second not in _NOT_UNITS else asked.group(1)
        )
    after = re.search(rf"\b{re.escape(number)} (?:\w+ )?([a-z]+s)\b", text)
    return after.group(1) if after and after.group(1) not in _NOT_UNITS else None


def recognise(text: str, grade: int | None) -> Solution | None:
    """Take-away, put-together, equal sharing and equal groups, each with exactly two numbers."""
    numbers = re.findall(_NUM, text)
    if len(numbers) != 2 or not re.search(r"\bhow (?:many|much)\b", text):
        return None
    if re.search(r"[+\-*/=^%$]", text) or UNREAD_OPERATION.search(text):
        return None
    if re.search(r"\bhow many more\b|\bthan\b", text):
        return None  # comparison problems: which number is subtracted is for a person to read
    for story_kind in (_rest_of_group, _capacity):
        solution = story_kind(text)
        if solution is not None:
            return solution
    a, b = (sympy.Rational(n) for n in numbers)
    story = re.sub(r"\b(?:does |will |did )?each(?: \w+)? (?:gets?|have|has)\b", "each", text)
    take, get = re.search(_TAKE, story), re.search(_GET, story)
    share, each = re.search(_SHARE, text), re.search(_EACH, text)
    left = re.search(r"\bleft\b|\bremain|\bnow\b|\bstill\b", text)
    together = re.search(_ALL + r"|\bnow\b", text)
    # "6 trays of 12 muffins", "3 boxes with 8 crayons each": equal groups
    groups = each or re.search(rf"{_NUM} [a-z]+ (?:of|with) {_NUM}", text)
    cues = [
        ("-", bool(take and left and not get and not share and not groups)),
        ("+", bool((get or together) and not take and not share and not groups)),
        ("/", bool(share and each and not take and not get)),
        ("*", bool(groups and re.search(_ALL, text) and not share and not take)),
    ]
    ops = [op for op, present in cues if present]
    if len(ops) != 1:
        return None  # no cue or several: the operation is ambiguous
    op = ops[0]
    if op == "-" and b > a:
        return None
    if op == "/" and (b == 0 or (a / b).q != 1):
        return None
    unit = _unit(text, numbers[0] if op != "*" else numbers[1])
    sa, sb = (number_text(v, decimal=True) for v in (a, b))
    why = {
        "+": f"Putting {sb} more together with {sa} means adding.",
        "-": f"Taking {sb} away from {sa} means subtracting.",
        "/": f"Sharing {sa} equally into {sb} groups means dividing.",
        "*": f"{sa} groups of {sb} means multiplying.",
    }[op]
    return _one_step(op, a, b, unit, why)


def _one_step(
    op: str, a: sympy.Rational, b: sympy.Rational, unit: str | None, why: str
) -> Solution:
    answer = {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]
    sa, sb, sv = (number_text(v, decimal=True) for v in (a, b, answer))
    symbol = {"+": "+", "-": "-", "*": "×", "/": "÷"}[op]
    answer_text = f"{sv} {unit}" if unit else sv
    return Solution(
        "word_problem",
        f"{sa} {symbol} {sb}",
        answer,
        answer_text,
        (why, f"{sa} {symbol} {sb} = {sv}."),
        unit,
    )


# Two groups that make up a whole between them: 15 of 24 kids are girls, so the rest are boys.
_PAIRS = [{"boys", "girls"}, {"men", "women"}, {"adults", "children"}, {"adults", "kids"}]
_PART = re.compile(
    rf"\b(?P<total>{_NUM}) (?P<whole>[a-z]+)\b.*?\b(?P<part>{_NUM}) (?:of (?:them|these|those) )?"
    r"(?:are|were) (?P<a>[a-z]+)\b"
)
_ASKED_PART = re.compile(
    r"\bhow many (?:of them |of these )?(?:are |were )?(?P<b>not [a-z]+|[a-z]+)"
)


def _rest_of_group(text: str) -> Solution | None:
    """24 kids, 15 are girls: how many boys (or how many are not girls, or the rest)?"""
    found, asked = _PART.search(text), _ASKED_PART.search(text)
    if not found or not asked:
        return None
    a, b, whole = found.group("a"), asked.group("b"), found.group("whole")
    if whole in (a, b) or re.match(r"[a-z ]*\b(?:and|or)\b", text[asked.end() :]):
        return None  # "24 boys, 15 are girls"; "how many boys and girls": not one rest
    rest = re.search(rf"\b(?:the )?(?:rest|others|remaining \w+) (?:are|were) {b}\b", text)
    if b == f"not {a}" or {a, b} in _PAIRS:
        unit = b if {a, b} in _PAIRS else whole
    elif rest and b not in (a, whole):
        unit = whole
    else:
        return None  # "15 are red, how many are big?": the two groups need not make the whole
    total, part = sympy.Rational(found.group("total")), sympy.Rational(found.group("part"))
    if part > total:
        return None
    why = f"{number_text(part)} of the {number_text(total)} are {a}; the rest is what is left."
    return _one_step("-", total, part, unit, why)


_HOLDS = r"(?:holds?|carr(?:y|ies)|fits?|seats?)"
_RATE = re.compile(rf"\b{_HOLDS} (?:up to )?(?P<rate>{_NUM}) (?P<unit>[a-z]+)")
_COUNT = re.compile(
    rf"\bhow many (?P<unit>[a-z]+) (?:can|could|will|would|do|does) (?P<count>{_NUM}) [a-z]+ "
    rf"{_HOLDS}\b|\bhow many (?P<unit2>[a-z]+) (?:can |will )?(?:fit|go) (?:in|into|on) "
    rf"(?P<count2>{_NUM}) [a-z]+"
)


def _capacity(text: str) -> Solution | None:
    """A bus holds 48 students: how many students can 7 buses hold?"""
    rate, asked = _RATE.search(text), _COUNT.search(text)
    if not rate or not asked:
        return None
    unit = asked.group("unit") or asked.group("unit2")
    count = asked.group("count") or asked.group("count2")
    if unit != rate.group("unit"):
        return None  # the question must ask about what one of them holds
    r, c = sympy.Rational(count), sympy.Rational(rate.group("rate"))
    sr, sc = number_text(r), number_text(c)
    why = f"Each one holds {sc}, so {sr} of them hold {sr} groups of {sc}."
    return _one_step("*", r, c, unit, why)
