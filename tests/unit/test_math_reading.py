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


# A problem wrapped in a request for a hint, a feeling, or thanks: the talk is set aside.
WRAPPED = [
    ("hint pls: 9 × 6", 54, "54"),
    ("Could you give me a small hint for 45 ÷ 9?", 5, "5"),
    ("just a hint: 3/4 - 1/8", R(5, 8), "5/8"),
    ("Can I have a hint on -7 - 6? I always get confused with negatives.", -13, "-13"),
    ("Need a hint!! 2.5 × 4", 10, "10"),
    ("Hint for 8 × 7 please, I keep mixing up my times tables", 56, "56"),
    ("I'm confused on 5/6 + 1/4, can you give me a hint?", R(13, 12), "13/12"),
    ("Thanks! What is 14 - 9?", 5, "5"),
    ("I thought it was 54. What is 7 x 8?", 56, "56"),
    ("i'm really stuck on this: solve 4x + 1 = 21. can you walk me through it?", 5, "x = 5"),
]

# Who is asking (a grade, an age said as one) is not part of the problem.
ASKER = [
    ("I teach 5th grade. What is the sum of 48 and 27?", 75, "75"),
    ("My daughter is in 2nd grade: what is 35 + 48?", 83, "83"),
    ("My 10-year-old is stuck on 144 ÷ 12", 12, "12"),
    ("I'm in grade 7 and need help: solve 3x - 5 = 16", 7, "x = 7"),
    ("My son is 8 years old and can't figure out 6 x 7", 42, "42"),
    ("I'm a 6th grader. What is 2/3 of 27?", 18, "18"),
]

TALK_REFUSED = [
    "Only a hint please.",
    "Can you walk her through it?",
    "I always mess up the two minus signs",
    "hint please",
    "hint please: 12 × 7 and 3",
    "I have 3 dogs. Hint please: 5 + 4",
    "Can I get a hint? I keep getting 54.",
    "Give me a hint for page 42",
    "I'm in 4th grade and I have 3 brothers. What is 6 x 7?",
    "My son is 9 and stuck on 6 x 7",
    "Room 12: what is 5 + 5?",
    "I thought percents had to be under 100",
]


@pytest.mark.parametrize(("question", "answer", "answer_text"), WRAPPED + ASKER)
def test_talk_around_the_problem_is_set_aside(
    question: str, answer: object, answer_text: str
) -> None:
    solution = solve(question)
    assert solution is not None, question
    assert (solution.answer, solution.answer_text) == (answer, answer_text)


@pytest.mark.parametrize("question", TALK_REFUSED)
def test_talk_without_a_problem_or_with_another_number_is_refused(question: str) -> None:
    assert solve(question) is None
