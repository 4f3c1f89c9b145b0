"""Recognise the computable problem in a question: phrases to symbols, then one exact solution."""

from __future__ import annotations

import re
from collections.abc import Callable

import sympy

from aivo.tutoring import (
    averages,
    conversions,
    formulas,
    parts,
    percents,
    rates,
    rounding,
    word_problems,
)
from aivo.tutoring.equations import solve_linear
from aivo.tutoring.expressions import (
    BinOp,
    Node,
    Num,
    Refused,
    Sqrt,
    all_nodes,
    parse_equation,
    parse_expression,
    to_sympy,
    variables,
)
from aivo.tutoring.numbers import (
    FRACTION_WORDS,
    UNREAD_OPERATION,
    number_text,
    plain_operators,
    words_to_digits,
)
from aivo.tutoring.solution import Solution
from aivo.tutoring.steps import arithmetic_steps, render
from aivo.tutoring.talk import without_talk

MAX_QUESTION_CHARS = 400
N = r"-?\d+(?:\.\d+)?|\(\d+/\d+\)"  # fractions arrive in parentheses from to_symbols

_PHRASES = (
    (r"\bwhat's\b", "what is"),
    (r"\b(?:the )?square root of\s*", "√"),
    (r"\b(?:raised )?to the power of\b|\bto the\b(?= \d+(?:st|nd|rd|th)? power)", "^"),
    (r"(?<=\d)(?:st|nd|rd|th)? power\b", ""),
    (r"\bsquared\b", "^2"),
    (r"\bcubed\b", "^3"),
    (r"\bmultiplied by\b|\btimes\b", "*"),
    (r"\bdivided by\b", "/"),
    (r"\bplus\b", "+"),
    (r"\bminus\b|\btake away\b", "-"),
    (r"\bnegative\s+(?=\d)", "-"),
)
_FRACTION_OF = re.compile(
    rf"\b(?:(?P<count>\d+|a|an)\s+)?(?P<part>{'|'.join(FRACTION_WORDS)}|halve)s?\s+of\s+"
    rf"(?P<whole>{N})(?!\.?\d)"  # not \b: a fraction ends in ")", where \b never matches
)
_SCALED = re.compile(
    rf"\b(?P<scale>double|twice|triple|thrice)\s+(?:of\s+)?(?P<whole>{N})(?!\.?\d)"
)
_SCALES = {"double": 2, "twice": 2, "triple": 3, "thrice": 3}
_WRITTEN_FRACTION_OF = re.compile(rf"(\(\d+/\d+\)) of ({N})")  # "2/5 of 30"
# "sum of 3 and 4" -> 3 + 4; the second group order says which number comes first.
_NAMED = (
    (rf"\bsum of ({N}) and ({N})", "+", False),
    (rf"\bproduct of ({N}) and ({N})", "*", False),
    (rf"\bdifference (?:between|of) ({N}) and ({N})", "-", False),
    (rf"\bquotient of ({N}) and ({N})", "/", False),
    (rf"\badd ({N}) (?:and|to) ({N})", "+", False),
    (rf"\bmultiply ({N}) (?:and|by) ({N})", "*", False),
    (rf"\bdivide ({N}) by ({N})", "/", False),
    (rf"\bsubtract ({N}) from ({N})", "-", True),
    (rf"\btake ({N}) (?:away )?from ({N})", "-", True),
)
# A run of math: digits, operators, parentheses, `=`, roots and lone one-letter variables.
_RUN = re.compile(r"(?:sqrt|√|[0-9.+\-*/()^=]|[ \t]|(?<![a-z'])[a-z](?![a-z']))+")


def to_symbols(question: str) -> str:
    """Lower-case, number words to digits, operator words to symbols."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", plain_operators(words_to_digits(question)))
    text = re.sub(r"(?<![\d./])(\d{1,6}) (\d{1,6})/(\d{1,6})(?![\d./])", _improper, text)  # 2 1/2
    text = re.sub(r"(?<![\d./)])(\d+/\d+)(?![\d./(])", r"(\1)", text)  # 2/3 * 3/4: fractions
    for pattern, symbol in _PHRASES:
        text = re.sub(pattern, symbol, text)
    text = re.sub(r"=\s*(?:\?|_+|\.\.\.)", "?", text)  # "3 + 4 = ?" asks for the value
    if "=" not in text:
        text = re.sub(r"(?<=\d)\s*x\s*(?=[\d(-])", " * ", text)  # "7 x 8" is a product
    return text


def _improper(mixed: re.Match[str]) -> str:
    whole, top, bottom = (int(g) for g in mixed.groups())
    if not 0 < top < bottom:
        return mixed.group(0)
    return f"{whole * bottom + top}/{bottom}"


def _number(text: str) -> Num:
    written = text.strip("()")
    return Num(sympy.Rational(written), written)


def _named_tree(text: str) -> tuple[Node, str] | None:
    """A problem named in words ("sum of 3 and 4", "one third of 27") and the words it used."""
    match = _FRACTION_OF.search(text)
    if match:
        count = match.group("count")
        part = FRACTION_WORDS.get(match.group("part"), 2)
        whole = _number(match.group("whole"))
        if count in (None, "a", "an", "1"):
            return BinOp("/", whole, Num(sympy.Integer(part), str(part))), match.group(0)
        fraction = Num(sympy.Rational(int(count), part), f"{count}/{part}")
        return BinOp("*", fraction, whole), match.group(0)
    scaled = _SCALED.search(text)
    if scaled:
        factor = _SCALES[scaled.group("scale")]
        tree = BinOp("*", Num(sympy.Integer(factor), str(factor)), _number(scaled.group("whole")))
        return tree, scaled.group(0)
    written = _WRITTEN_FRACTION_OF.search(text)
    if written:
        tree = BinOp("*", _number(written.group(1)), _number(written.group(2)))
        return tree, written.group(0)
    for pattern, op, swap in _NAMED:
        found = re.search(pattern, text)
        if found:
            first, second = found.group(1), found.group(2)
            if swap:
                first, second = second, first
            return BinOp(op, _number(first), _number(second)), found.group(0)
    return None


def _math_run(text: str) -> str | None:
    """The one run of math in the text; None when there is none or more than one."""
    runs = []
    for found in _RUN.finditer(text):
        raw = found.group(0)
        start = found.start() + len(raw) - len(raw.lstrip())
        end = found.end() - len(raw) + len(raw.rstrip())
        around = text[start - 1 : start] + text[end : end + 1]
        if any(char.isalnum() or char in "'\"[]{}_`" for char in around):
            continue  # math glued to a word, or inside code or quotes, is not a question
        run = found.group(0).strip(" \t.")
        run = re.sub(r"^(?:[a-z]\s+(?=[\d(√a-z]))+|(?:\s+[a-z])+$", "", run).strip()
        has_digit = bool(re.search(r"\d", run))
        if has_digit and re.search(r"[+\-*/^=√]|sqrt", run.lstrip("-")):
            runs.append(run)
    return runs[0] if len(runs) == 1 else None


_MATH_CUE = re.compile(
    r"\bwhat is\b|\bwhats\b|\bcalculate|\bcompute|\bevaluate|\bsolve|\bsimplify|\bfind\b|"
    r"\bwork out\b|\bfigure out\b|\bhow much is\b|\bequals?\b|\banswer\b|\bhelp\b|"
    r"\bmath|\bvalue\b|="
)


def _asked_to_compute(text: str, run: str) -> bool:
    """Bare math, or math with a cue: "pages 10-20" and "in 1914-1918" are not sums."""
    rest = text.replace(run, " ")
    return not re.search(r"[a-z]{3,}", rest) or bool(_MATH_CUE.search(text))


def arithmetic_solution(tree: Node, grade: int | None, as_decimal: bool = False) -> Solution:
    """Evaluate an expression tree exactly, with one step per operation."""
    answer = to_sympy(tree)
    nodes = all_nodes(tree)
    decimal = as_decimal or any(isinstance(n, Num) and "." in n.text for n in nodes)
    mixed = grade is not None and grade <= 5 and not decimal
    operations = [n for n in nodes if isinstance(n, BinOp | Sqrt)]
    if len(operations) > 1:
        kind = "order_of_operations"
    elif isinstance(tree, Sqrt) or (isinstance(tree, BinOp) and tree.op == "^"):
        kind = "power"
    else:
        kind = "arithmetic"
    answer_text = number_text(answer, decimal=decimal, mixed=mixed)
    steps = arithmetic_steps(tree, decimal)
    if answer_text != number_text(answer, decimal=decimal):
        steps = (*steps, f"As a mixed number, {number_text(answer)} is {answer_text}.")
    return Solution(kind, render(tree), answer, answer_text, steps)


def _expression(text: str, grade: int | None) -> Solution | None:
    named = _named_tree(text)
    run = named[1] if named else _math_run(text)
    if run is None:
        return None
    rest = text.replace(run, " ")
    if re.search(r"\d", rest) or UNREAD_OPERATION.search(rest):
        return None  # a number or operation outside the math ("sum of 3 and 4 and 5")
    if re.search(r"\b(?!value |answer |result )[a-z]+ of\s*$", text[: text.find(run)]):
        return None  # "the ... of 3/4": something of the expression we have no reading for
    if named:
        tree = named[0]
    else:
        if not _asked_to_compute(text, run):
            return None
        if "=" in run:
            return solve_linear(*parse_equation(run))
        tree = parse_expression(run)
    if variables(tree) or not isinstance(tree, BinOp | Sqrt):
        return None
    if not all(_readable(to_sympy(n)) for n in all_nodes(tree) if isinstance(n, BinOp | Sqrt)):
        return None  # "√0.37 + 3/4": no whole-number root form a learner can read step by step
    solution = arithmetic_solution(tree, grade, as_decimal="decimal" in text)
    return solution if solution.steps else None  # "√2": nothing to work out


def _readable(value: sympy.Expr) -> bool:
    """A value the steps can show: a rational number, or a whole number times a square root of
    a whole number ("5√2")."""
    if value.is_Rational:
        return True
    coefficient, radical = value.as_coeff_Mul()
    return (
        coefficient.is_Integer
        and isinstance(radical, sympy.Pow)
        and radical.exp == sympy.Rational(1, 2)
        and radical.base.is_Integer
    )


_RECOGNISERS: tuple[Callable[[str, int | None], Solution | None], ...] = (
    formulas.recognise,
    percents.recognise,
    rounding.recognise,
    averages.recognise,
    conversions.recognise,
    rates.recognise,
    parts.recognise,
    word_problems.recognise,
    _expression,
)


def solve(question: str, grade: int | None = None) -> Solution | None:
    """The exact solution of the math problem in a question; None unless read with confidence."""
    if not question or len(question) > MAX_QUESTION_CHARS:
        return None
    text = to_symbols(without_talk(question))
    if not re.search(r"\d", text):
        return None
    for recognise in _RECOGNISERS:
        try:
            solution = recognise(text, grade)
        except (Refused, ZeroDivisionError, ValueError):
            return None
        if solution is not None:
            return solution
    return None
