"""The math checker: recognise the computable problem in a K-12 question and solve it exactly.

`solve` reads a question into a `Solution` (exact answer, worked steps) or None; the answer
functions read a tutor's or a learner's text against that solution.
"""

from aivo.tutoring.answers import (
    answer_is_correct,
    check_student_answer,
    mentions_answer,
    stated_answer,
)
from aivo.tutoring.mistakes import likely_mistake
from aivo.tutoring.problems import solve
from aivo.tutoring.solution import Solution

__all__ = [
    "Solution",
    "answer_is_correct",
    "check_student_answer",
    "likely_mistake",
    "mentions_answer",
    "solve",
    "stated_answer",
]
