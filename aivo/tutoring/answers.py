"""Read answers out of text: the final answer a tutor states, whether a hint gives it away, and
whether a learner's answer is right (in any equivalent form)."""

from __future__ import annotations

import re

import sympy

from aivo.tutoring.expressions import Refused, parse_expression, to_sympy
from aivo.tutoring.numbers import (
    NumberToken,
    is_terminating,
    plain_operators,
    read_numbers,
    words_to_digits,
)
from aivo.tutoring.solution import Solution

_ANSWER_CUE = re.compile(r"\banswer(?: is|:|\s*=|\s+would be|\s+will be)\s*")
_WORD_CUE = re.compile(
    r"\b(?:equals|equal to|is|are|makes|gives|gets|get|got|have|has|had|left with|comes to|"
    r"total of|would be|will be)\s+(?:about |exactly |now |just |only |a total of |left )?"
)
# What a problem of each kind asks for, as a tutor names it when stating the answer.
_ASKED = {
    "slope": ("slope",),
    "pythagorean": ("hypotenuse", "other leg", "missing leg", "diagonal"),
    "area": ("area",),
    "perimeter": ("perimeter",),
    "volume": ("volume",),
}
_OPERATION_NEXT = re.compile(r"\s*[-+*/^]\s*[\d(]")
_HEDGE = r"(?:indeed |exactly |actually |just |really |about |now )?"
_EXPLICIT = re.compile(r"(?:=|\banswer is|\banswer:|\bequals|\bis)\s*\$?$")


def _prepare(text: str) -> str:
    return plain_operators(words_to_digits(text))


def _variable(solution: Solution) -> str | None:
    found = re.match(r"([a-z]) = ", solution.answer_text) if solution.kind == "equation" else None
    return found.group(1) if found else None


def _value(token: NumberToken, solution: Solution) -> sympy.Rational:
    """A token's value in the solution's terms: 50% is 1/2, except where the answer is a percent."""
    if token.percent and solution.unit != "%":
        return token.value / 100
    return token.value


def _places(text: str, token: NumberToken) -> int:
    written = text[token.start : token.end]
    return len(written.split(".")[1].rstrip("% percnt")) if "." in written else 0


def _equal(value: sympy.Rational, answer: sympy.Expr, places: int) -> bool:
    if value == answer:
        return True
    if places == 0:
        return False  # whole numbers and fractions are compared exactly
    exact_decimal = isinstance(answer, sympy.Rational) and is_terminating(answer)
    # a decimal within 1e-9; answers with no exact decimal (1/3, √2) rounded to the places written
    tolerance = 1e-9 if exact_decimal or places < 2 else 0.5 * 10.0**-places + 1e-12
    return abs(float(answer) - float(value)) <= tolerance


def _matches(text: str, token: NumberToken, solution: Solution) -> bool:
    return _equal(_value(token, solution), solution.answer, _places(text, token))


def _token_after(tokens: list[NumberToken], position: int, text: str) -> NumberToken | None:
    for token in tokens:
        if token.start >= position:
            return token if re.fullmatch(r"[\s$]*", text[position : token.start]) else None
    return None


def _problem_values(solution: Solution) -> set[sympy.Rational]:
    return {t.value for t in read_numbers(_prepare(solution.problem))} | {
        sympy.Integer(n) for n in re.findall(r"\d+", solution.problem)
    }


def _last_cue(
    pattern: re.Pattern[str], text: str, tokens: list[NumberToken], skip: set[sympy.Rational]
) -> NumberToken | None:
    for cue in reversed(list(pattern.finditer(text))):
        token = _token_after(tokens, cue.end(), text)
        if token is not None and token.value not in skip:
            return token
    return None


def _final_token(text: str, solution: Solution) -> NumberToken | None:
    tokens = read_numbers(text)
    if solution.unit == "%" and any(t.percent for t in tokens):
        tokens = [t for t in tokens if t.percent]  # "12 ÷ 48 = 0.25" is a step to "25%"
    if not tokens:
        return None
    # a number of the question that is not the answer is restated, not answered: the check
    # "18 × 18 = 324" after "√324 = 18", or the question in the last sentence
    restated = {v for v in _problem_values(solution) if not _equal(v, solution.answer, 0)}
    name = _variable(solution)
    if name:  # an equation's answer is the variable's value; "2x = 8" is a step on the way
        cues = [_ANSWER_CUE, re.compile(rf"(?<![\w.]){name}\s*(?:=|is|equals)\s*")]
    else:
        cues = [_ANSWER_CUE, re.compile(r"=\s*"), _WORD_CUE]
    for cue in cues:
        token = _last_cue(cue, text, tokens, set() if cue is _ANSWER_CUE or name else restated)
        if token is not None:
            return token
    if name:
        return None
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if re.search(r"\d", s)]
    if not sentences or sentences[-1].rstrip().endswith("?"):
        return None
    offset = text.rindex(sentences[-1])
    last = [t for t in tokens if t.start >= offset][-1:]
    if not last or last[0].value in restated:
        return None
    return last[0]


def stated_answer(text: str, solution: Solution) -> sympy.Expr | None:
    """The final answer the text states for this problem; None when it states none."""
    prepared = _prepare(text)
    token = _final_token(prepared, solution)
    return None if token is None else _value(token, solution)


def claimed_answers(text: str, solution: Solution) -> list[bool]:
    """For each value `text` states as the problem's answer ("the answer is 9", "the slope of
    the line is indeed 2": the kind's own noun), whether it is the answer. A right triangle's
    given side named as given ("the hypotenuse is 13" where a leg is asked) is not a claim; the
    asked side stated as a given's value ("the other leg is 13") is a wrong one."""
    prepared = _prepare(text)
    tokens = read_numbers(prepared)
    nouns = "|".join(("answer", "result", *_ASKED.get(solution.kind, ())))
    cue = re.compile(
        rf"\b({nouns})(?:\s+(?:of|for|between)\b[^.!?=]*?)?\s+"
        rf"(?:is|equals|=|would be|will be|must be)\s+{_HEDGE}"
    )
    given_nouns = _given_sides(solution)
    given = _problem_values(solution) if given_nouns else set()
    claims = []
    for found in cue.finditer(prepared):
        token = _token_after(tokens, found.end(), prepared)
        if token is None or _OPERATION_NEXT.match(prepared, token.end):
            continue  # "slope = 6 ÷ 2 = 3": a calculation, audited as one
        right = _matches(prepared, token, solution)
        if right or found.group(1) not in given_nouns or token.value not in given:
            claims.append(right)
    return claims


def _given_sides(solution: Solution) -> tuple[str, ...]:
    """The nouns that name a right triangle's given sides: the hypotenuse where a leg is asked
    ("the hypotenuse is 13" restates it), the legs where the hypotenuse or diagonal is."""
    if solution.kind != "pythagorean":
        return ()
    if solution.problem.endswith("other leg?"):
        return ("hypotenuse", "diagonal")
    return ("other leg", "missing leg")


def answer_is_correct(text: str, solution: Solution) -> bool | None:
    """Whether the text's final answer is the solution's; None when it states no final answer."""
    prepared = _prepare(text)
    token = _final_token(prepared, solution)
    return None if token is None else _matches(prepared, token, solution)


def mentions_answer(text: str, solution: Solution) -> bool:
    """Whether the text states the answer anywhere; the question's own numbers do not count
    unless the answer is one of them and the text states it explicitly ("= 7")."""
    prepared = _prepare(text)
    in_question = _problem_values(solution)
    answer_in_question = any(_equal(v, solution.answer, 0) for v in in_question)
    for token in read_numbers(prepared):
        if not _matches(prepared, token, solution):
            continue
        if token.fraction and {sympy.Integer(n) for n in token.fraction} <= in_question:
            continue  # "56/7" restates the question's numbers
        if _variable(solution) and _in_a_term(prepared, token):
            continue  # "3x - 6 = ?" on the way to x = 6: a term, not the value
        if not answer_in_question or _EXPLICIT.search(prepared[: token.start]):
            return True
    return False


def _in_a_term(text: str, token: NumberToken) -> bool:
    """Whether the number is a coefficient or constant of an expression with a letter: "6x",
    "x - 6", "6 + 2x", "3(x - 6)"."""
    before, after = text[: token.start], text[token.end :]
    return bool(
        re.match(r"[a-z(]|\s*[-+*/]\s*\d*\s*[a-z(]", after)
        or re.search(r"(?<![a-z])[a-z]\)?\s*[-+*/]\s*\(?$", before)
    )


def check_student_answer(solution: Solution, student_answer: str) -> bool | None:
    """Whether a learner's answer is right ("56", "x = 4", "1/2", "50%", "$30", "fifty-six");
    None when it holds no number we can read."""
    prepared = _prepare(student_answer.strip())
    written = re.fullmatch(r"(?:[a-z]\s*=)?\s*\$?([\d\s./()+\-*^√]+?)\s*(?:[a-z]+\s*)*", prepared)
    if written and re.search(r"[/+*^√(]|\d\s*-", written.group(1)):
        try:  # "7 / 8", "√5", "5√2": read with the safe parser, compared exactly
            return bool(to_sympy(parse_expression(written.group(1))) == solution.answer)
        except Refused:
            pass
    tokens = read_numbers(prepared)
    if not tokens:
        return None
    token = _last_cue(re.compile(r"=\s*"), prepared, tokens, set()) or tokens[-1]
    return _matches(prepared, token, solution)
