"""Every number a tutor states about a computable problem is checked against its solution.

A text passes when each calculation it writes out ("7 × 8 = 56") is true, each other number it
states is one the checker can vouch for (the question's, the worked solution's, or the result
of a true calculation on those), each step it asks the learner to work out ("5 × 6 = ?") has a
result the checker vouches for (so a hint never leads off the solution's path, "40 - 5 = ?" for
40 - 5 × 6), and, for the tutoring move, the final answer is right (explain,
and confirming a right answer) or never stated (hints, and a wrong answer being checked).
Numbers 0-2 pass freely: "two numbers", "one step", "no remainder" are words, not claims. A
claim that the problem has no value ("the slope is undefined", "there is no solution") is false
for every problem the checker solves, as each has one exact answer.

A question that asks for a computation the checker cannot solve has no solution to vouch for
numbers: an answer to it may state only the question's numbers and the results of true
calculations on them (`asks_computation`, `given_numbers`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import sympy

from aivo.schemas import Subject
from aivo.tutoring.answers import answer_is_correct, claimed_answers, mentions_answer
from aivo.tutoring.expressions import Refused, parse_expression, to_sympy
from aivo.tutoring.numbers import plain_operators, read_numbers, words_to_digits
from aivo.tutoring.solution import Solution

FREE_NUMBERS = frozenset(sympy.Integer(n) for n in (0, 1, 2))
_OPERAND = r"\(?-?\d[\d,]*(?:\.\d+)?(?:/\d+)?\)?"
_EXPRESSION = rf"-?\$?{_OPERAND}(?:\s*[-+*/^]\s*{_OPERAND})*"
# A chain of equal expressions, "-9 + (-5) = -9 - 5 = -14", not inside a root, a power, a fraction
# or an equation with letters ("√(9/16) = 0.75", "x/2 + 3/2 = 2x - 3", "(-3/2)x + 3/2 = -3" hold
# no calculation here).
_CHAIN = re.compile(
    rf"(?<![\w.√/^(])(?<![-+*/^]\s)({_EXPRESSION}(?:\s*=\s*{_EXPRESSION})+)(?![\w√/^]|\.\d)"
)
_OPERATION = re.compile(rf"(?>{_OPERAND})\s*[-+*/^]\s*{_OPERAND}")  # "3/2" is one number
# A step the learner is asked to work out: "5 * 6 = ?" (its result is not written)
_ASKED = re.compile(rf"(?<![\w.√/^(])(?<![-+*/^]\s)({_EXPRESSION})\s*=\s*\?")
# The math on either side of an "=" in prose: numbers, operators, parentheses, lone letters.
_SIDE = r"(?:\d+(?:\.\d+)?|(?<![a-z])[a-z](?![a-z])|[-+*/^() ])+"
_EQUATION = re.compile(rf"({_SIDE})=({_SIDE})")
_LIST_MARKER = re.compile(r"^\s*(?:step\s+)?\d+[.):]\s+", re.M)
_STEP_NAME = re.compile(r"\bstep\s+\d+\b")
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_NO_VALUE = re.compile(
    r"\b(?:undefined|no (?:real )?(?:solutions?|answer)|(?:does not|doesn't|cannot|can't) exist|"
    r"infinitely many|infinite|(?:cannot|can't|can ?not) be (?:solved|found|calculated|computed|"
    r"determined)|(?:is|are) impossible)\b",
    re.I,
)


_ASKS_RESULT = re.compile(
    r"\b(?:how (?:many|much|far|long|old|fast|tall|big|heavy|wide|high|deep)|"
    r"what(?:'s| is| are| was| were| will| would| time)|find|solve|calculate|compute|convert|"
    r"simplify|round|evaluate|estimate|work out|figure out|write)\b",
    re.I,
)
_ASKS_WHY = re.compile(r"\W*(?:why|how come)\b", re.I)


@dataclass(frozen=True)
class AuditFinding:
    reason: str  # "false_calculation", "unchecked_number", "gives_answer", "wrong_answer", ...
    detail: str = ""


def plain(text: str) -> str:
    """Lower case, number words as digits, × ÷ as * /, "7 x 8" as "7 * 8", no list markers."""
    text = plain_operators(words_to_digits(text))
    text = re.sub(r"(?<=\d)\s*x\s*(?=\d)", " * ", text)
    return _STEP_NAME.sub("step", _LIST_MARKER.sub("", text))


def vouched_numbers(solution: Solution, question: str, *checked: str) -> set[sympy.Expr]:
    """The numbers a tutor may state freely: the question's, the worked solution's, and those
    of `checked` texts (written from the checker's own solutions)."""
    texts = [question, solution.problem, solution.answer_text, *solution.steps, *checked]
    return given_numbers(*texts) | {solution.answer}


def given_numbers(*texts: str) -> set[sympy.Expr]:
    """The numbers `texts` state (and the parts of their fractions: 4 of "1/4"), with 0-2."""
    tokens = [token for text in texts for token in read_numbers(plain(text))]
    found = {token.value for token in tokens}
    parts = {sympy.Integer(n) for token in tokens for n in token.fraction or ()}
    return found | parts | FREE_NUMBERS


def asks_computation(question: str, subject: Subject) -> bool:
    """Whether a question the checker could not solve still asks for a computation, so that its
    answer may state only the numbers given and true calculations on them: one that asks for a
    result ("what is", "how many", "find") and states a number, in math, or two, in science (a
    lone number there is more often part of a fact); not one that asks why ("Why is 0.5 the
    same as 1/2?") or for something else ("Can you count to 20 with me?")."""
    needed = {Subject.math: 1, Subject.science: 2}.get(subject)
    if needed is None or _ASKS_WHY.match(question) or not _ASKS_RESULT.search(question):
        return False
    return len(given_numbers(question) - FREE_NUMBERS) >= needed


def audit_numbers(text: str, vouched: Iterable[sympy.Expr]) -> AuditFinding | None:
    """The first false calculation or unchecked number in `text`, or None."""
    prepared = plain(text)
    known = set(vouched)
    for match in _CHAIN.finditer(prepared):
        parts = [p.strip().replace("$", "").replace(",", "") for p in match.group(1).split("=")]
        if not any(_OPERATION.search(p) for p in parts):
            continue  # "3/4 = 0.75" restates a number; no operation to check
        try:
            values = [to_sympy(parse_expression(p)) for p in parts]
        except (Refused, ZeroDivisionError):
            continue  # not a calculation we read; its numbers are checked one by one below
        for a, b in itertools.pairwise(values):
            if a != b and sympy.simplify(a - b) != 0:
                return AuditFinding("false_calculation", match.group(1))
        if {t.value for t in read_numbers(parts[0])} <= known:
            known.update(values)
    for match in _ASKED.finditer(prepared):
        asked = match.group(1).replace("$", "").replace(",", "")
        if not _OPERATION.search(asked):
            continue
        try:
            value = to_sympy(parse_expression(asked))
        except (Refused, ZeroDivisionError):
            continue
        if value not in known:  # "40 - 5 = ?" for 40 - 5 × 6: not a step of the solution
            return AuditFinding("unchecked_step", match.group(0))
    for token in read_numbers(prepared):
        value = token.value / 100 if token.percent else token.value
        if token.value not in known and value not in known:
            return AuditFinding("unchecked_number", prepared[token.start : token.end])
    return None


def audit_equations(text: str, solution: Solution, checked: str = "") -> AuditFinding | None:
    """The first equation in `text` that the solution's value of its variable does not satisfy
    ("2x = 4" on the way to x = 4): a false step even when the final answer is right. Equations
    of a `checked` text (a similar problem the checker solved) are its own, not this one's."""
    own = {m.group(0).strip() for m in _EQUATION.finditer(plain(checked))}
    name = re.match(r"([a-z]) = ", solution.answer_text)
    if solution.kind != "equation" or name is None:
        return None
    variable = sympy.Symbol(name.group(1))
    for match in _EQUATION.finditer(plain(text)):
        letters = re.findall(r"(?<![a-z])[a-z](?![a-z])", match.group(0))
        if name.group(1) not in letters or match.group(0).strip() in own:
            continue
        try:
            left, right = (to_sympy(parse_expression(side)) for side in match.groups())
        except (Refused, ZeroDivisionError):
            continue
        if sympy.simplify((left - right).subs(variable, solution.answer)) != 0:
            return AuditFinding("false_step", match.group(0).strip())
    return None


def audit_written(
    text: str, solution: Solution, question: str, *, may_state_answer: bool, checked: str = ""
) -> AuditFinding | None:
    """What is wrong with text written so far (it may go on): a given-away answer, a false step
    or calculation, an unchecked number."""
    if not may_state_answer and mentions_answer(text, solution):
        return AuditFinding("gives_answer")  # the answer's value otherwise only as a term or step
    return (
        audit_claims(text)
        or audit_equations(text, solution, checked)
        or audit_numbers(text, vouched_numbers(solution, question, checked))
        or audit_claimed_answers(text, solution, checked)
    )


def audit_claimed_answers(text: str, solution: Solution, checked: str = "") -> AuditFinding | None:
    """A value stated as the answer that is not the answer ("the slope is 2"), whatever the move
    (a number 0-2 passes the number audit freely, and a hint must not state the right one either).
    Sentences of a `checked` text are its own (a similar problem's answer)."""
    said = {_sentence_key(s) for s in _SENTENCES.split(checked)}
    for sentence in _SENTENCES.split(text):
        if _sentence_key(sentence) not in said and not all(claimed_answers(sentence, solution)):
            return AuditFinding("wrong_answer", sentence.strip())
    return None


def _sentence_key(sentence: str) -> str:
    return " ".join(sentence.lower().split())


def audit_claims(text: str) -> AuditFinding | None:
    """A claim that the problem has no value, which is false for a problem the checker solved."""
    claim = _NO_VALUE.search(text)
    return AuditFinding("false_claim", claim.group(0)) if claim else None


def audit_answer(
    text: str, solution: Solution, question: str, *, may_state_answer: bool, checked: str = ""
) -> AuditFinding | None:
    """The whole answer: what `audit_written` finds, then its final answer as the move needs."""
    finding = audit_written(
        text, solution, question, may_state_answer=may_state_answer, checked=checked
    )
    if finding is not None or not may_state_answer:
        return finding
    correct = answer_is_correct(text, solution)
    if correct is None:
        return AuditFinding("no_answer")
    return None if correct else AuditFinding("wrong_answer")
