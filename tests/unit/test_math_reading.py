"""The checker reads questions as learners and parents write them, and refuses what it cannot
read with confidence; every answer here is worked by hand."""

from __future__ import annotations

import pytest
from sympy import Rational

from aivo.tutoring import solve

R = Rational

# "half of", "a third of", "double", "twice" applied to fractions, decimals and negatives.
SCALED = [
    ("What is half of 3/4?", R(3, 8), "3/8"),
    ("a third of 9/10", R(3, 10), "3/10"),
    ("What's half of -14?", -7, "-7"),
    ("half of 0.6", R(3, 10), "0.3"),
    ("one quarter of 2/5", R(1, 10), "1/10"),
    ("two thirds of 3/8", R(1, 4), "1/4"),
    ("What is double 5/6?", R(5, 3), "5/3"),
    ("twice -2.5", -5, "-5"),
    ("What is triple 1/9?", R(1, 3), "1/3"),
    ("half of 1 1/2", R(3, 4), "3/4"),
]

SCALED_REFUSED = [
    "What is the reciprocal of 2/3?",
    "the opposite of -4 + 9",
    "What is the absolute value of -6 + 2?",
    "What is the square of 3/4?",
    "double the sum of 3 and 4",
    "half of 20% of 60",
    "What is twice 3 + 4?",
    "round 2.5 + 1.25",
]


@pytest.mark.parametrize(("question", "answer", "answer_text"), SCALED)
def test_scaled_numbers(question: str, answer: object, answer_text: str) -> None:
    solution = solve(question)
    assert solution is not None, question
    assert (solution.answer, solution.answer_text) == (answer, answer_text)


@pytest.mark.parametrize("question", SCALED_REFUSED)
def test_an_operation_named_in_words_is_never_ignored(question: str) -> None:
    assert solve(question) is None
