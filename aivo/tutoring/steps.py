"""Worked solutions: one operation a step, in the order a learner is taught (PEMDAS)."""

from __future__ import annotations

import sympy

from aivo.tutoring.expressions import (
    BinOp,
    Neg,
    Node,
    Num,
    Sqrt,
    Var,
    all_nodes,
    to_sympy,
    variables,
)
from aivo.tutoring.numbers import number_text

_SYMBOL = {"+": "+", "-": "-", "*": "×", "/": "÷", "^": "^"}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}
_VERB = {"+": "Add", "-": "Subtract", "*": "Multiply", "/": "Divide", "^": "Work out the power"}


def _precedence(node: Node) -> int:
    if isinstance(node, BinOp):
        return _PRECEDENCE[node.op]
    if isinstance(node, Neg) or (isinstance(node, Num) and node.text.startswith("-")):
        return 3
    if isinstance(node, Num) and "/" in node.text:
        return 2
    return 5


def render(node: Node) -> str:
    """The expression as a child reads it: "3 + 4 × 2", "12 - (-5)", "(3 + 4) × 2"."""
    if isinstance(node, Num):
        return node.text
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Neg):
        inner = render(node.operand)
        return f"-({inner})" if _precedence(node.operand) < 5 else f"-{inner}"
    if isinstance(node, Sqrt):
        inner = render(node.operand)
        return f"√{inner}" if _precedence(node.operand) == 5 else f"√({inner})"
    mine = _PRECEDENCE[node.op]
    left, right = render(node.left), render(node.right)
    if _precedence(node.left) < mine or (node.op == "^" and _precedence(node.left) <= mine):
        left = f"({left})"
    theirs = _precedence(node.right)
    if theirs < mine or theirs == 3 or (theirs == mine and node.op in "-/^"):
        right = f"({right})"
    if node.op == "/" and variables(node.left) and isinstance(node.right, Num):
        return f"{left}/{right}"
    if (
        node.op == "*"
        and isinstance(node.left, Num)
        and "/" not in left
        and (isinstance(node.right, Var) or (right.startswith("(") and bool(variables(node.right))))
    ):
        return f"{left}{right}"  # 2x, 3(x - 2): how algebra is written
    return f"{left} {_SYMBOL[node.op]} {right}"


def _value_node(value: sympy.Expr, decimal: bool) -> Num:
    return Num(value, number_text(value, decimal=decimal))


def _reason(op: str, inside_parentheses: bool, multi: bool) -> str:
    if not multi:
        return ""
    if inside_parentheses:
        return "Work inside the parentheses first. "
    if op == "^":
        return "Powers come before multiplying, dividing, adding and subtracting. "
    if op in "*/":
        return "Multiply and divide from left to right before adding and subtracting. "
    return "Add and subtract from left to right. "


def _fraction_steps(node: BinOp, result_text: str) -> list[str]:
    """Extra steps when the operands are fractions: common denominators, multiply across."""
    a, b = node.left, node.right
    if not (isinstance(a, Num) and isinstance(b, Num)):
        return []
    if "/" not in a.text + b.text:
        return []
    (xp, xq), (yp, yq) = _written_fraction(a), _written_fraction(b)
    if node.op in "+-":
        den = sympy.ilcm(xq, yq)
        left, right = f"{xp * den // xq}/{den}", f"{yp * den // yq}/{den}"
        if yp < 0:
            right = f"({right})"
        rewritten = [
            f"{n.text} = {t}" for n, t in ((a, left), (b, right)) if n.text != t.strip("()")
        ]
        steps = (
            [f"Use a common denominator of {den}: {' and '.join(rewritten)}."] if rewritten else []
        )
        total = xp * den // xq + (1 if node.op == "+" else -1) * (yp * den // yq)
        steps.append(f"{left} {node.op} {right} = {total}/{den}.")
        if sympy.Rational(total, den).q != den:
            steps.append(f"Simplify: {total}/{den} = {result_text}.")
        return steps
    if node.op == "*":
        product = f"{xp * yp}/{xq * yq}"
        simplified = "" if product == result_text else f" = {result_text}"
        return [
            f"Multiply the tops and the bottoms: ({xp} × {yp})/({xq} × {yq}) = "
            f"{product}{simplified}."
        ]
    if node.op == "/" and b.value != 0:
        flipped = number_text(1 / b.value)
        return [
            f"Dividing by {b.text} is the same as multiplying by {flipped}: "
            f"{a.text} × {flipped} = {result_text}."
        ]
    return []


def _written_fraction(number: Num) -> tuple[int, int]:
    """The top and bottom as written ("2/4" stays 2 over 4); a whole number or decimal as its
    value's."""
    top, _, bottom = number.text.partition("/")
    if bottom and top.lstrip("-").isdigit() and bottom.isdigit():
        return int(top), int(bottom)
    value = sympy.Rational(number.value)
    return int(value.p), int(value.q)


def _reduce(node: Node, decimal: bool, multi: bool, inside: bool) -> tuple[Node, list[str]] | None:
    """Carry out the first operation due (post-order, left to right); None when fully reduced."""
    if isinstance(node, Num | Var):
        return None
    if isinstance(node, Neg | Sqrt):
        done = _reduce(node.operand, decimal, multi, inside)
        if done:
            return type(node)(done[0]), done[1]
        value = _value_node(to_sympy(node), decimal)
        if isinstance(node, Sqrt) and value.text != render(node):  # "√2" stays as it is
            how = (
                f"{render(node)} = {value.text}, because {value.text} × {value.text} = "
                f"{render(node.operand)}."
                if value.value.is_Rational
                else f"{render(node)} = {value.text}."
            )
            return value, [how]
        return value, []
    for side in ("left", "right"):
        child = getattr(node, side)
        child_inside = inside or f"({render(child)})" in render(node)
        done = _reduce(child, decimal, multi, child_inside)
        if done:
            rebuilt = (
                BinOp(node.op, done[0], node.right)
                if side == "left"
                else BinOp(node.op, node.left, done[0])
            )
            return rebuilt, done[1]
    value = _value_node(to_sympy(node), decimal)
    extra = _fraction_steps(node, value.text)
    if extra:
        return value, [_reason(node.op, inside, multi) + extra[0], *extra[1:]]
    return value, [f"{_reason(node.op, inside, multi)}{_working(node)} = {value.text}."]


def _working(node: BinOp) -> str:
    """The operation, spelled out where a learner is taught a rule for it."""
    a, b = node.left, node.right
    if isinstance(b, Num) and b.value < 0 and node.op in "+-":
        flipped = "+" if node.op == "-" else "-"
        verb = "Subtracting" if node.op == "-" else "Adding"
        same = "adding" if node.op == "-" else "subtracting"
        return (
            f"{verb} {b.text} is the same as {same} {b.text[1:]}: "
            f"{render(node)} = {a.text if isinstance(a, Num) else render(a)} {flipped} {b.text[1:]}"
        )
    if node.op == "^" and isinstance(a, Num) and isinstance(b, Num):
        return _repeated_product(node, a, b)
    return render(node)


def _repeated_product(node: BinOp, base: Num, exponent: Num) -> str:
    """2 ^ 3 means 2 × 2 × 2, for small whole exponents of plain numbers."""
    if "/" in base.text or not exponent.value.is_integer or not 2 <= exponent.value <= 6:
        return render(node)
    factor = f"({base.text})" if base.value < 0 else base.text
    return f"{render(node)} means " + " × ".join([factor] * int(exponent.value))


def arithmetic_steps(tree: Node, decimal: bool) -> tuple[str, ...]:
    """Reduce the tree one operation at a time, showing what the problem becomes."""
    steps: list[str] = []
    multi = sum(not isinstance(n, Num | Var) for n in all_nodes(tree)) > 1
    while True:
        done = _reduce(tree, decimal, multi, inside=False)
        if done is None:
            return tuple(steps)
        tree, said = done
        if said and isinstance(tree, BinOp | Neg):
            said[-1] = said[-1].rstrip(".") + f", so now we have {render(tree)}."
        steps.extend(said)
