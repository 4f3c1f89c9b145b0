"""A solved math problem: what the checker read, the exact answer and the worked steps."""

from __future__ import annotations

from dataclasses import dataclass

import sympy


@dataclass(frozen=True)
class Solution:
    kind: str  # "arithmetic", "order_of_operations", "percent", "power", "equation", ...
    problem: str  # the problem as the checker read it, e.g. "7 × 8" or "2x + 3 = 11"
    answer: sympy.Expr  # exact: Integer, Rational or a square-root form; never a Float
    answer_text: str  # how a child reads it: "56", "3/4", "2.5", "x = 4", "$30", "15 cm²"
    steps: tuple[str, ...]  # worked steps, one operation each
    unit: str | None = None
