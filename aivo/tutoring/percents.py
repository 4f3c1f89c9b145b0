"""Percent problems: a percent of a number, what percent one number is of another, a discount."""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.numbers import UNREAD_OPERATION, decimal_text, number_text
from aivo.tutoring.solution import Solution

_NUM = r"\d+(?:\.\d+)?"
# The question asks about another amount ("how much is left", "what percent did I miss", "the
# total with tax"), not the part the percent names.
_OTHER_PART = re.compile(
    r"\bleft\b|\bremain|\bkeep\b|\bkept\b|\bthe rest\b|\bafter\b|\bother\b|\bwrong\b|\bmiss|"
    r"\bnot\b|\bincorrect\b|\blost\b|\btotal\b|\bin all\b|\baltogether\b|\bnew\b|\bfinal\b|"
    r"\bincluding\b|\bplus\b"
)


def _money(value: sympy.Rational) -> str:
    text = (
        decimal_text(value) if value.q in (1, 2, 4, 5, 10, 20, 25, 50, 100) else number_text(value)
    )
    return f"${text}" if "." not in text or len(text.split(".")[1]) == 2 else f"${text}0"


def recognise(text: str, grade: int | None) -> Solution | None:
    """15% of 80; what percent of 50 is 10; a $40 shirt 25% off."""
    if not re.search(r"%|\bpercent", text):
        return None
    numbers = re.findall(_NUM, text)
    if len(numbers) != 2 or UNREAD_OPERATION.search(re.sub(r"%|\bpercent(?:age)?s?\b", "", text)):
        return None
    reverse = re.search(
        rf"\bwhat percent(?:age)? of \$?({_NUM}) is \$?({_NUM})", text
    ) or re.search(rf"\$?({_NUM}) is what percent(?:age)? of \$?({_NUM})", text)
    scored = re.search(rf"\b({_NUM})(?: [a-z]+){{0,3}} out of ({_NUM})\b", text)
    # the score itself as a percent; "what percent failed?" may ask about the other part
    asks_percent = re.search(
        r"\bwhat percent(?:age)? (?:is|was) (?:that|this|it)\b|\bas a percent|"
        rf"\bwhat percent(?:age)? is {_NUM} out of|out of {_NUM} is what percent",
        text,
    )
    if scored and asks_percent and not _OTHER_PART.search(text):
        part, whole = (sympy.Rational(g) for g in scored.groups())  # "18 out of 24": 18 is the part
    elif reverse:
        whole, part = (sympy.Rational(g) for g in reverse.groups())
        if reverse.re.pattern.startswith(r"\$"):
            part, whole = whole, part
    elif scored:
        return None
    if scored or reverse:
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
    # "22% of $1250"; "$1250 and 22% of it": of the one other number
    if not re.search(rf"({_NUM})\s?(?:%|percent) of (?:\$?{_NUM}|it|them|that|this)\b", text):
        return None
    if _OTHER_PART.search(text):
        return None  # "how much is left": the rest, not the part the percent names
    problem = f"{number_text(rate, decimal=True)}% of {shown(base)}"
    return Solution("percent", problem, part, shown(part), (of_step,), "$" if money else None)
