"""Tutoring moves on a checked problem: what the model is given, and what it must say.

For each move the preprocessor builds a `TutorPlan`: the material that grounds the model (the
worked solution to explain, the next step to hint at, the verdict on a learner's answer) and a
`worked` text, written from the checker's steps, that is correct by construction. The answering
loop (`aivo/service/answering.py`) lets the model write first; if what it writes fails the
audit, the model continues from `worked` instead, and if that continuation fails too, `worked`
alone is the answer.

Hints climb a ladder over the conversation: a nudge toward the first step, then each next step
with its result left for the learner, then a worked example of a similar problem (its numbers
changed, solved by the checker), never the final answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

from aivo.schemas import Turn, TutoringMode
from aivo.tutoring import check_student_answer, likely_mistake, mentions_answer, solve
from aivo.tutoring.explanations import (
    HINT_LEADS,
    NOT_YET,
    SIMILAR,
    band,
    confirmed_text,
    idea,
    worked_text,
)
from aivo.tutoring.numbers import read_numbers
from aivo.tutoring.solution import Solution


@dataclass(frozen=True)
class TutorPlan:
    mode: TutoringMode
    question: str  # as the checker read the learner's text (screened and redacted)
    solution: Solution
    material: tuple[str, ...]  # lines for the model's prompt
    worked: str  # correct by construction: the answer when the model's own text fails
    may_state_answer: bool
    student_answer_correct: bool | None = None
    opening: str = ""  # what the answer starts with whoever writes the rest (a check's verdict,
    # the likely mistake and the step to look at: the model only adds to them)


def plan_move(
    mode: TutoringMode,
    question: str,
    grade: int,
    history: list[Turn],
    student_answer: str | None,
) -> TutorPlan | None:
    """The plan for a computable question (or a computable problem in the recent turns)."""
    solved = _solve_in_conversation(question, history, grade)
    if solved is None:
        return None
    asked, solution = solved
    if mode == TutoringMode.hint:
        tutor_turns = sum(1 for turn in history if turn.role == "tutor")
        hint = hint_text(solution, asked, grade, tutor_turns)
        return TutorPlan(mode, asked, solution, (f"Hint to give: {hint}",), hint, False)
    if mode == TutoringMode.check and student_answer is not None:
        return _check_plan(asked, solution, student_answer, grade)
    steps = "\n".join(f"{i}. {step}" for i, step in enumerate(solution.steps, 1))
    material = (
        f"Checked solution of {solution.problem}:\n{steps}",
        f"Answer: {solution.answer_text}",
    )
    return TutorPlan(mode, asked, solution, material, worked_text(solution, grade), True)


def _solve_in_conversation(
    question: str, history: list[Turn], grade: int
) -> tuple[str, Solution] | None:
    """The learner's question, else the newest earlier student turn that holds a problem."""
    for text in [question, *(t.text for t in reversed(history) if t.role == "student")]:
        solution = solve(text, grade)
        if solution is not None:
            return text, solution
    return None


def _check_plan(question: str, solution: Solution, student_answer: str, grade: int) -> TutorPlan:
    correct = check_student_answer(solution, student_answer)
    if correct is None:
        verdict = f"The student's answer, {student_answer!r}, holds no number to check."
        worked = "I could not find a number in your answer. What number did you get?"
        return TutorPlan(TutoringMode.check, question, solution, (verdict,), worked, False)
    register = band(grade)
    if correct:
        why = "\n".join(filter(None, [idea(solution, grade), *solution.steps]))
        confirmed = confirmed_text(solution, grade)
        verdict = f"The student's answer {student_answer!r} is right."
        return TutorPlan(
            TutoringMode.check,
            question,
            solution,
            (verdict, f"Why: {why}"),
            confirmed,
            True,
            True,
            confirmed,
        )
    mistake = _mistake(solution, student_answer)
    look = _ask(without_result(solution.steps[0]))
    lines = [
        NOT_YET[register],
        mistake and f"It looks like {mistake}.",
        look,
        strategy(solution, grade),
    ]
    worked = "\n".join(filter(None, [*lines, "Try it once more!"]))
    verdict = f"The student's answer {student_answer!r} is wrong. Do not give the right answer."
    material = (verdict, *([f"Likely mistake: {mistake}"] if mistake else []), look)
    return TutorPlan(TutoringMode.check, question, solution, material, worked, False, False, worked)


def _mistake(solution: Solution, student_answer: str) -> str | None:
    tokens = read_numbers(student_answer.lower())
    return likely_mistake(solution, tokens[-1].value) if tokens else None


def without_result(step: str) -> str:
    """A step with what it works out left for the learner, from its first "=" on:
    "Subtract 3 from both sides: 2x = 8." -> "Subtract 3 from both sides: 2x = ?";
    "√169 = 13, because 13 × 13 = 169" -> "√169 = ?"."""
    step = step.rstrip(".")
    if "=" not in step:
        return step
    head, result = step.split("=", 1)
    return f"{head.strip()} = ?" if re.search(r"\d", result) else step


def strategy(solution: Solution, grade: int) -> str | None:
    """A way in for one operation on two whole numbers ("7 × 8": 7 groups of 8), for grades K-5:
    counting on, counting back and skip counting are how young learners compute, not older ones."""
    found = re.fullmatch(r"(\d+) ([+\-×÷]) (\d+)", solution.problem)
    if found is None or band(grade) > 0:
        return None
    a, op, b = found.groups()
    return {
        "+": f"Start at {a} and count on {b} more.",
        "-": f"Start at {a} and count back {b}.",
        "×": f"Think of {a} groups of {b}, or count by {b}s {a} times.",
        "÷": f"Ask yourself: how many groups of {b} make {a}?",
    }[op]


def hint_text(solution: Solution, question: str, grade: int, earlier_hints: int) -> str:
    """The hint at rung `earlier_hints` of the ladder; never the answer, whatever the steps say
    (a hint that would state it falls back to the problem's way in)."""
    register = band(grade)
    steps = [without_result(s) for s in solution.steps if not s.startswith("Check:")]
    if earlier_hints < len(steps):
        lead = HINT_LEADS[register][0 if earlier_hints == 0 else 1]
        way_in = strategy(solution, grade) if earlier_hints == 0 else None
        hint = "\n".join(filter(None, [lead, _ask(steps[earlier_hints]), way_in]))
    else:
        example = similar_problem(question, solution, grade)
        if example is None:
            hint = f"{HINT_LEADS[register][0]}\n{_ask(steps[0])}"
        else:
            shown = "\n".join([example.problem, *example.steps])
            hint = f"{SIMILAR[register]}\n{shown}"
    if mentions_answer(hint, solution):
        return idea(solution, max(grade, 3)) or "Read the problem again: what is it asking for?"
    return hint


def _ask(step: str) -> str:
    if step.endswith("?"):
        return step
    return f"{step}. What do you get?" if re.search(r"\d", step) else f"{step}."


def similar_problem(question: str, solution: Solution, grade: int) -> Solution | None:
    """The same problem with its numbers changed and solved, with an answer of its own (a whole
    number when the learner's is one)."""
    for changed in _renumbered(question):
        example = solve(changed, grade)
        if example is None or example.kind != solution.kind:
            continue
        whole = not isinstance(solution.answer, sympy.Integer) or isinstance(
            example.answer, sympy.Integer
        )
        shown = " ".join([example.problem, *example.steps])
        if whole and not mentions_answer(shown, solution):
            return example
    return None


def _renumbered(question: str) -> list[str]:
    """The question with its numbers changed: the last one moved first (the problem stays most
    alike), then all of them."""
    numbers = list(re.finditer(r"\d+", question))
    if not numbers:
        return []
    last = numbers[-1]
    variants = [
        f"{question[: last.start()]}{int(last.group(0)) + k}{question[last.end() :]}"
        for k in range(1, 7)
    ]
    for shift, scale in ((1, 1), (2, 1), (3, 1), (0, 2)):
        variants.append(re.sub(r"\d+", lambda m: str(scale * int(m.group(0)) + shift), question))  # noqa: B023
    return variants
