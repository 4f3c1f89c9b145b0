"""One-step word problems and percents: read the operation from the story, or refuse."""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.numbers import UNREAD_OPERATION, decimal_text, number_text
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


def _money(value: sympy.Rational) -> str:
    text = (
        decimal_text(value) if value.q in (1, 2, 4, 5, 10, 20, 25, 50, 100) else number_text(value)
    )
    return f"${text}" if "." not in text or len(text.split(".")[1]) == 2 else f"${text}0"


def recognise_percent(text: str, grade: int | None) -> Solution | None:
    """15% of 80; what percent of 50 is 10; a $40 shirt 25% off."""
    if not re.search(r"%|\bpercent", text):
        return None
    numbers = re.findall(_NUM, text)
    if len(numbers) != 2 or UNREAD_OPERATION.search(re.sub(r"%|\bpercent(?:age)?s?\b", "", text)):
        return None
    reverse = re.search(
        rf"\bwhat percent(?:age)? of \$?({_NUM}) is \$?({_NUM})", text
    ) or re.search(rf"\$?({_NUM}) is what percent(?:age)? of \$?({_NUM})", text)
    if reverse:
        whole, part = (sympy.Rational(g) for g in reverse.groups())
        if reverse.re.pattern.startswith(r"\$"):
            part, whole = whole, part
        if whole == 0:
            return None
        answer = part / whole * 100
        text_answer = f"{number_text(answer, decimal=True)}%"
        return Solution(
            "percent",
            f"what percent of {number_text(whole)} is {number_text(part)}",
            answer,
            text_answer,
            (
                f"Divide the part by the whole: {number_text(part)} ÷ {number_text(whole)} = "
                f"{number_text(part / whole, decimal=True)}.",
                f"Multiply by 100 to make a percent: {text_answer}.",
            ),
            "%",
        )
    found = re.search(rf"({_NUM})\s?(?:%|percent)", text)
    if not found:
        return None
    rate = sympy.Rational(found.group(1))
    others = [n for n in numbers if n != found.group(1)] or [numbers[1]]
    base = sympy.Rational(others[0])
    money = "$" in text
    shown = _money if money else (lambda v: number_text(v, decimal=True))
    part = rate * base / 100
    of_step = (
        f"{number_text(rate, decimal=True)}% of {shown(base)} is {shown(base)} × "
        f"{number_text(rate, decimal=True)} ÷ 100 = {shown(part)}."
    )
    if re.search(r"\boff\b|\bdiscount|\bsale\b", text):
        if re.search(
            r"\bsav(?:e|es|ed|ing)\b|\bhow much (?:is )?(?:the )?(?:discount|off)\b", text
        ):
            answer, steps = part, [of_step]
        elif re.search(r"\bprice\b|\bcost|\bpay\b", text):
            answer = base - part
            taken = f"{shown(base)} - {shown(part)} = {shown(answer)}"
            steps = [of_step, f"Take it off the price: {taken}."]
        else:
            return None
        problem = f"{number_text(rate, decimal=True)}% off {shown(base)}"
        return Solution(
            "percent", problem, answer, shown(answer), tuple(steps), "$" if money else None
        )
    if not re.search(rf"({_NUM})\s?(?:%|percent) of \$?{_NUM}", text):
        return None
    problem = f"{number_text(rate, decimal=True)}% of {shown(base)}"
    return Solution("percent", problem, part, shown(part), (of_step,), "$" if money else None)


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
    answer = {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]
    unit = _unit(text, numbers[0] if op != "*" else numbers[1])
    sa, sb, sv = (number_text(v, decimal=True) for v in (a, b, answer))
    symbol = {"+": "+", "-": "-", "*": "×", "/": "÷"}[op]
    why = {
        "+": f"Putting {sb} more together with {sa} means adding.",
        "-": f"Taking {sb} away from {sa} means subtracting.",
        "/": f"Sharing {sa} equally into {sb} groups means dividing.",
        "*": f"{sa} groups of {sb} means multiplying.",
    }[op]
    answer_text = f"{sv} {unit}" if unit else sv
    return Solution(
        "word_problem",
        f"{sa} {symbol} {sb}",
        answer,
        answer_text,
        (why, f"{sa} {symbol} {sb} = {sv}."),
        unit,
    )
