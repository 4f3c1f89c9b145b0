"""A safe parser for the math a learner types: a whitelisted `ast` grammar, bounded in size.

Learner text never reaches `eval`, `sympify` or `parse_expr` (they run Python code). We parse
with `ast.parse` (which only builds a tree), accept numbers, + - * / ** ( ), unary minus, one
one-letter variable and `sqrt(...)`, and build sympy objects ourselves with every size bounded.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import sympy

from aivo.tutoring.numbers import plain_operators

MAX_CHARS = 200
MAX_PAREN_DEPTH = 8
MAX_NODES = 60
MAX_LITERAL_DIGITS = 15
MAX_EXPONENT = 64
MAX_RESULT_DIGITS = 200
MAX_RADICAND_DIGITS = 12


@dataclass(frozen=True)
class Num:
    value: sympy.Rational
    text: str  # as written: "2.5", "3/4", "-5"


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / ^
    left: Node
    right: Node


@dataclass(frozen=True)
class Sqrt:
    operand: Node


Node = Num | Var | Neg | BinOp | Sqrt

_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "^"}
_ALLOWED = re.compile(r"[0-9a-z.+\-*/() ]*")


class Refused(ValueError):
    """The text is not an expression we read, or it is too large to compute safely."""


def normalise_symbols(text: str) -> str:
    """Unicode and caret operators to the ASCII grammar; implicit products made explicit."""
    text = plain_operators(text.lower()).replace("^", "**")
    text = re.sub(r"√\s*(\d+(?:\.\d+)?|[a-z]\b)", r"sqrt(\1)", text).replace("√", "sqrt")
    text = re.sub(r"(?<=[\d)])\s*(?=[a-z(])", "*", text)  # 2x, 3(x - 2), (a)(b)
    text = re.sub(r"(?<=\))\s*(?=\d)", "*", text)
    return re.sub(r"(?<![a-z])([a-z])\s*\(", r"\1*(", text)  # x(x + 1); sqrt( is kept


def _check_shape(text: str) -> None:
    if len(text) > MAX_CHARS or not _ALLOWED.fullmatch(text.replace("sqrt", "")):
        raise Refused("characters or length outside the grammar")
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth > MAX_PAREN_DEPTH or depth < 0:
            raise Refused("parentheses too deep or unbalanced")


def parse_expression(text: str) -> Node:
    """Parse one expression (no `=`); raises Refused."""
    source = normalise_symbols(text.strip())
    _check_shape(source)
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise Refused("not an expression") from error
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise Refused("expression too long")
    return _convert(tree.body, source, top=True)


def parse_equation(text: str) -> tuple[Node, Node]:
    """Parse `left = right`; raises Refused."""
    sides = text.split("=")
    if len(sides) != 2:
        raise Refused("not one equation")
    return parse_expression(sides[0]), parse_expression(sides[1])


def _literal(node: ast.expr, source: str) -> Num:
    written = ast.get_source_segment(source, node) or ""
    if not re.fullmatch(rf"\d{{1,{MAX_LITERAL_DIGITS}}}(\.\d{{1,12}})?", written):
        raise Refused("number too long or not plain")
    return Num(sympy.Rational(written), written)


def _convert(node: ast.expr, source: str, top: bool = False) -> Node:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _literal(node, source)
    if isinstance(node, ast.Name) and len(node.id) == 1:
        return Var(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _convert(node.operand, source)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(operand, Num):
            return Num(-operand.value, f"-{operand.text}")
        return Neg(operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        op = _OPS[type(node.op)]
        left, right = _convert(node.left, source), _convert(node.right, source)
        if op == "/" and not top and _written_as_fraction(node, left, right):
            # "3/4 + 1/8": a fraction written without spaces inside a larger expression.
            assert isinstance(left, Num) and isinstance(right, Num)
            return Num(left.value / right.value, f"{left.text}/{right.text}")
        return BinOp(op, left, right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "sqrt"
        and len(node.args) == 1
        and not node.keywords
    ):
        return Sqrt(_convert(node.args[0], source))
    raise Refused("outside the grammar")


def _written_as_fraction(node: ast.BinOp, left: Node, right: Node) -> bool:
    plain = (
        isinstance(left, Num)
        and isinstance(right, Num)
        and left.value.is_integer
        and left.value >= 0
        and right.value.is_integer
        and right.value > 0
    )
    return plain and node.left.end_col_offset == node.right.col_offset - 1


def all_nodes(node: Node) -> list[Node]:
    """The node and everything under it, parents first."""
    if isinstance(node, BinOp):
        return [node, *all_nodes(node.left), *all_nodes(node.right)]
    if isinstance(node, Neg | Sqrt):
        return [node, *all_nodes(node.operand)]
    return [node]


def variables(node: Node) -> set[str]:
    if isinstance(node, Var):
        return {node.name}
    if isinstance(node, Num):
        return set()
    if isinstance(node, BinOp):
        return variables(node.left) | variables(node.right)
    return variables(node.operand)


def _digits(value: sympy.Rational) -> int:
    return max(len(str(abs(int(value.p)))), len(str(int(value.q))))


def to_sympy(node: Node) -> sympy.Expr:
    """Build the exact sympy value; raises Refused when a step would be too large or undefined."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Var):
        return sympy.Symbol(node.name)
    if isinstance(node, Neg):
        return -to_sympy(node.operand)
    if isinstance(node, Sqrt):
        radicand = to_sympy(node.operand)
        if not isinstance(radicand, sympy.Rational) or radicand < 0:
            raise Refused("square root of a negative or non-number")
        if _digits(radicand) > MAX_RADICAND_DIGITS:
            raise Refused("square root too large")
        return sympy.sqrt(radicand)
    left, right = to_sympy(node.left), to_sympy(node.right)
    if node.op == "^":
        return _power(left, right)
    if node.op == "/":
        if right == 0:
            raise Refused("division by zero")
        return left / right
    return {"+": sympy.Add, "-": lambda a, b: a - b, "*": sympy.Mul}[node.op](left, right)


def _power(base: sympy.Expr, exponent: sympy.Expr) -> sympy.Expr:
    if not isinstance(exponent, sympy.Integer) or abs(exponent) > MAX_EXPONENT:
        raise Refused("exponent too large or not a whole number")
    if isinstance(base, sympy.Rational):
        if base == 0 and exponent < 0:
            raise Refused("division by zero")
        if _digits(base) * abs(int(exponent)) > MAX_RESULT_DIGITS:
            raise Refused("power too large")
    elif base.free_symbols and not (0 <= exponent <= 3):
        raise Refused("power of the variable too large")
    elif not base.free_symbols:
        raise Refused("power of a radical")
    return sympy.Pow(base, exponent)
