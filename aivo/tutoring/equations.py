"""Linear equations in one variable, solved the way they are taught: undo one operation a step."""

from __future__ import annotations

import sympy

from aivo.tutoring.expressions import Node, Refused, to_sympy, variables
from aivo.tutoring.numbers import number_text
from aivo.tutoring.solution import Solution
from aivo.tutoring.steps import render


def _linear(side: sympy.Expr, x: sympy.Symbol) -> tuple[sympy.Rational, sympy.Rational]:
    """side == k*x + b with exact rationals; raises Refused for anything not linear."""
    expanded = sympy.expand(side)
    k, b = expanded.coeff(x, 1), expanded.coeff(x, 0)
    if not (isinstance(k, sympy.Rational) and isinstance(b, sympy.Rational)):
        raise Refused("not linear")
    if sympy.expand(k * x + b - expanded) != 0:
        raise Refused("not linear")
    return k, b


def linear_text(k: sympy.Rational, b: sympy.Rational, name: str) -> str:
    """2x + 3, -x, x/3, (2/3)x - 1, 7."""
    if k == 0:
        return number_text(b)
    if k == 1:
        term = name
    elif k == -1:
        term = f"-{name}"
    elif k.is_integer:
        term = f"{k}{name}"
    elif k.p == 1:
        term = f"{name}/{k.q}"
    else:
        term = f"({number_text(k)}){name}"
    if b == 0:
        return term
    return f"{term} {'+' if b > 0 else '-'} {number_text(abs(b))}"


def solve_linear(left: Node, right: Node) -> Solution:
    """The variable's value with the worked steps; raises Refused unless linear in one variable."""
    names = variables(left) | variables(right)
    if len(names) != 1:
        raise Refused("not one variable")
    name = names.pop()
    x = sympy.Symbol(name)
    (a, b), (c, d) = _linear(to_sympy(left), x), _linear(to_sympy(right), x)
    if a == c:
        raise Refused("no single solution")
    problem = f"{render(left)} = {render(right)}"
    steps: list[str] = []
    simplified = f"{linear_text(a, b, name)} = {linear_text(c, d, name)}"
    if simplified != problem:
        steps.append(f"Multiply out and combine like terms: {simplified}.")
    if c != 0:
        term = linear_text(abs(c), 0, name)
        move = f"Subtract {term} from" if c > 0 else f"Add {term} to"
        a, c = a - c, sympy.Integer(0)
        steps.append(f"{move} both sides: {linear_text(a, b, name)} = {number_text(d)}.")
    if b != 0:
        move = f"Subtract {number_text(b)} from" if b > 0 else f"Add {number_text(-b)} to"
        b, d = sympy.Integer(0), d - b
        steps.append(f"{move} both sides: {linear_text(a, 0, name)} = {number_text(d)}.")
    value = d / a
    if a != 1:
        if a.is_integer:
            how = f"Divide both sides by {number_text(a)}"
        else:
            how = f"Multiply both sides by {number_text(1 / a)}"
        steps.append(f"{how}: {name} = {number_text(value)}.")
    check_left = to_sympy(left).subs(x, value)
    check_right = to_sympy(right).subs(x, value)
    steps.append(
        f"Check: with {name} = {number_text(value)}, the left side is {number_text(check_left)} "
        f"and the right side is {number_text(check_right)}, so they match."
    )
    answer_text = f"{name} = {number_text(value)}"
    return Solution("equation", problem, value, answer_text, tuple(steps))
