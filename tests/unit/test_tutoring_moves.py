"""Tutoring moves and the number audit on real checker solutions: no model needed."""

from __future__ import annotations

import pytest

from aivo.curriculum.readability import flesch_kincaid_grade, target_band
from aivo.schemas import Turn, TutoringMode
from aivo.tutoring import mentions_answer, solve
from aivo.tutoring.audit import audit_answer
from aivo.tutoring.explanations import STEP_BY_STEP
from aivo.tutoring.moves import TutorPlan, plan_move

QUESTIONS = [
    "What is 7 times 8?",
    "How do I solve 2x + 3 = 11?",
    "What is 15% of 80?",
    "A right triangle has legs 6 and 8. How long is the hypotenuse?",
    "Sam has 12 apples and gives away 5. How many are left?",
    "What is 3/4 + 1/8?",
    "Find the slope between (1, 2) and (3, 8).",
    "A box is 2 cm by 3 cm by 4 cm. What is its volume?",
    "Round 3,847 to the nearest hundred.",
    "What is the mean of 4, 8, 10 and 14?",
    "Find the median of 7, 3, 9, 1",
    "What is the range of 12, 5, 20, 8?",
    "How many minutes are in 3 hours?",
    "Convert 30 inches to feet.",
    "A train goes 60 miles per hour for 2.5 hours. How far does it go?",
    "How long does it take to ride 30 km at 12 km per hour?",
    "A pizza is cut into 8 slices. Sam eats 3 slices. What fraction of the pizza is left?",
    "A chocolate bar has 12 pieces. Mia ate 4 pieces. What fraction is left?",
]


def plan(mode: TutoringMode, question: str, **kw: object) -> TutorPlan:
    made = plan_move(mode, question, 6, kw.get("history", []), kw.get("answer"))  # type: ignore[arg-type]
    assert made is not None
    return made


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_worked_solution_passes_its_own_audit(question: str) -> None:
    explain = plan(TutoringMode.explain, question)
    assert explain.may_state_answer and mentions_answer(explain.worked, explain.solution)
    assert audit_answer(explain.worked, explain.solution, question, may_state_answer=True) is None


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("rung", range(5))
def test_no_rung_of_the_hint_ladder_gives_the_answer(question: str, rung: int) -> None:
    history = [Turn(role="student", text=question), Turn(role="tutor", text="Try again.")] * rung
    hint = plan(TutoringMode.hint, question, history=history)
    assert not hint.may_state_answer
    assert not mentions_answer(hint.worked, hint.solution), hint.worked
    finding = audit_answer(
        hint.worked, hint.solution, question, may_state_answer=False, checked=hint.worked
    )
    assert finding is None


@pytest.mark.parametrize(
    "question",
    [
        "Solve 3(x - 2) = 12",  # the answer 6 is also a term on the way: "3x - 6"
        "What is 3/4 × 2/3?",  # the similar problem has a fraction worth the answer: 2/4
        "What is 5/6 - 1/3?",  # a step to simplify: 3/6
        "What is √324?",  # the check of a root restates the question: 18 × 18 = 324
        "12 is what percent of 48?",  # the decimal before the percent: 0.25
    ],
)
def test_every_move_passes_its_own_audit(question: str) -> None:
    """What the checker writes for any move is never cut by its own audit (which would drop the
    model's sentences after it, or replace a hint with a vaguer one)."""
    solution = solve(question)
    assert solution is not None
    plans = [
        plan(TutoringMode.explain, question),
        plan(TutoringMode.check, question, answer=str(solution.answer)),
        plan(TutoringMode.check, question, answer=str(solution.answer + 1)),
        *(
            plan(TutoringMode.hint, question, history=[Turn(role="tutor", text="hint")] * n)
            for n in range(4)
        ),
    ]
    for made in plans:
        finding = audit_answer(
            made.worked,
            made.solution,
            question,
            may_state_answer=made.may_state_answer,
            checked=made.worked,
        )
        assert finding is None, (made.worked, finding)


def test_the_ladder_climbs_to_a_similar_worked_example() -> None:
    question = "How do I solve 2x + 3 = 11?"
    rungs = [
        plan(TutoringMode.hint, question, history=[Turn(role="tutor", text="hint")] * n).worked
        for n in range(3)
    ]
    assert "Subtract 3 from both sides: 2x = ?" in rungs[0]
    assert "Divide both sides by 2: x = ?" in rungs[1]
    assert "similar problem" in rungs[2] and "2x + 3 = 11" not in rungs[2]


def test_a_follow_up_finds_the_problem_in_the_conversation() -> None:
    history = [Turn(role="student", text="What is 7 times 8?"), Turn(role="tutor", text="Hmm")]
    hint = plan(TutoringMode.hint, "I don't get it, can you give me a hint?", history=history)
    assert hint.solution.problem == "7 × 8"


def test_a_wrapped_problem_is_read_and_talk_alone_follows_it() -> None:
    asked = "Hint please, I keep getting it wrong: 63 ÷ 9"
    assert plan(TutoringMode.hint, asked).solution.problem == "63 ÷ 9"
    history = [Turn(role="student", text=asked), Turn(role="tutor", text="Think of 9s.")]
    for follow_up in ("Just a hint please.", "Can you walk me through it?"):
        assert plan(TutoringMode.hint, follow_up, history=history).solution.answer == 7


@pytest.mark.parametrize(
    ("question", "answer", "right"),
    [
        ("What is 7 times 8?", "56", True),
        ("What is 7 times 8?", "fifty-six", True),
        ("What is 7 times 8?", "54", False),
        ("What is 7 times 8?", "15", False),
        ("How do I solve 2x + 3 = 11?", "x = 4", True),
        ("How do I solve 2x + 3 = 11?", "7", False),
        ("What is 3/4 + 1/8?", "0.875", True),
        ("What is 3/4 + 1/8?", "4/12", False),
    ],
)
def test_check_mode_judges_and_never_gives_a_wrong_answer_the_answer(
    question: str, answer: str, right: bool
) -> None:
    checked = plan(TutoringMode.check, question, answer=answer)
    assert checked.student_answer_correct is right
    assert checked.may_state_answer is right
    assert mentions_answer(checked.worked, checked.solution) is right
    assert checked.worked.startswith("Yes" if right else "Not quite")


def test_a_likely_mistake_is_named() -> None:
    checked = plan(TutoringMode.check, "What is 7 times 8?", answer="15")
    assert "added" in checked.worked


def test_an_answer_without_a_number_is_asked_for() -> None:
    checked = plan(TutoringMode.check, "What is 7 times 8?", answer="I don't know")
    assert checked.student_answer_correct is None and "number" in checked.worked


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("7 × 8 = 54.", "false_calculation"),
        ("7 x 8 is 56 because 10 * 9 = 90.", "unchecked_number"),
        ("Think of 7 groups of 8.", "no_answer"),
        ("So the answer is 54.", "unchecked_number"),
        ("7 × 8 = 56, and 56 - 2 = 54, so the answer is 54.", "wrong_answer"),
        ("7 times 8 equals 56.", None),
        ("Seven eights make fifty-six.", None),
    ],
)
def test_every_number_in_an_explanation_is_checked(text: str, reason: str | None) -> None:
    solution = solve("What is 7 times 8?")
    assert solution is not None
    finding = audit_answer(text, solution, "What is 7 times 8?", may_state_answer=True)
    assert (finding.reason if finding else None) == reason


def test_a_false_step_fails_even_when_the_final_answer_is_right() -> None:
    question = "How do I solve 2x + 3 = 11?"
    solution = solve(question)
    assert solution is not None
    text = "Subtract 3: 2x = 4. Divide by 2: x = 4."
    finding = audit_answer(text, solution, question, may_state_answer=True)
    assert finding is not None and finding.reason == "false_step"


@pytest.mark.parametrize(
    "text",
    [
        "The slope of the line through (3, -1) and (-5, 3) is undefined.",
        "There is no solution, because the points are far apart.",
        "This slope cannot be determined from two points.",
        "The change in y is infinite, so the line is vertical.",
    ],
)
def test_a_claim_that_a_solved_problem_has_no_value_fails(text: str) -> None:
    question = "What is the slope of the line through (3, -1) and (-5, 3)?"
    solution = solve(question)
    assert solution is not None
    for may_state_answer in (True, False):  # explaining, and checking a wrong answer
        finding = audit_answer(text, solution, question, may_state_answer=may_state_answer)
        assert finding is not None and finding.reason == "false_claim"


def test_questions_without_a_computable_problem_get_no_plan() -> None:
    for question in ["Why is the sky blue?", "Explain photosynthesis", "Who was Lincoln?"]:
        assert plan_move(TutoringMode.explain, question, 5, [], None) is None


@pytest.mark.parametrize(
    ("question", "grade"),
    [
        ("What is (9 - 4) × 3?", 6),
        ("Evaluate 2 + 4^2 × 3", 6),
        ("Solve 4(x - 1) = 20", 8),
        ("What is 25% of 60?", 7),
        ("Find the slope between (2, 3) and (6, 11).", 9),
    ],
)
def test_a_worked_solution_reads_within_its_grades_band(question: str, grade: int) -> None:
    made = plan_move(TutoringMode.explain, question, grade, [], None)
    assert made is not None
    low, high = target_band(grade)
    assert low <= max(flesch_kincaid_grade(made.worked), 0.0) <= high


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_words_stay_within_a_register_of_the_learners(question: str) -> None:
    """Measuring may move the tutor's words one register up or down, never two."""
    texts = {g: plan_move(TutoringMode.explain, question, g, [], None) for g in (1, 4, 11)}
    assert texts[1] is not None and texts[1].worked.startswith(STEP_BY_STEP)
    assert texts[4] is not None and not texts[4].worked.endswith("confirms the result.")
    assert texts[11] is not None and not texts[11].worked.split("\n")[-1].startswith("So the")


def test_a_worked_solution_too_short_to_measure_stays_in_the_learners_register() -> None:
    """FK cannot place 20 words in a band, so it does not choose their register."""
    made = plan_move(TutoringMode.explain, "What is 15% of 80?", 5, [], None)
    assert made is not None and made.worked.endswith("\nSo the answer is 12.")


@pytest.mark.parametrize(
    ("question", "grade"),
    [
        ("Solve 7x - 4 = 3x + 16", 12),
        ("Solve 2(y + 3) = 5y - 9", 11),
        ("Evaluate 3 × (4 + 2)^2 - 8", 11),
    ],
)
def test_a_confirmation_for_the_oldest_grades_reads_within_their_band(
    question: str, grade: int
) -> None:
    """The checker's steps read plainly; the tutor's fuller words around them lift the whole
    into grades 11-12's band instead of leaving it below."""
    solution = solve(question, grade)
    assert solution is not None
    answer = solution.answer_text.split("= ")[-1]
    made = plan_move(TutoringMode.check, question, grade, [], answer)
    assert made is not None and made.student_answer_correct
    low, high = target_band(grade)
    assert low <= flesch_kincaid_grade(made.worked) <= high, made.worked


@pytest.mark.parametrize(("grade", "counts"), [(3, True), (5, True), (6, False), (10, False)])
def test_a_counting_strategy_is_offered_to_young_learners_only(grade: int, counts: bool) -> None:
    question = "A school bus holds 48 students. How many students can 7 buses hold?"
    checked = plan_move(TutoringMode.check, question, grade, [], "55")
    hint = plan_move(TutoringMode.hint, question, grade, [], None)
    assert checked is not None and hint is not None
    for text in (checked.worked, hint.worked):
        assert ("groups of 48, or count by" in text) is counts, text


@pytest.mark.parametrize(
    ("text", "may_state_answer"),
    [
        ("Try it once more! The slope of the line through (3, -1) and (-5, 3) is indeed 2.", False),
        ("The slope of the line is 2.", True),
        ("So the answer is 1.", False),
        ("Change in y: 3 - (-1) = 4. So the slope is 1, and the answer is -1/2.", True),
    ],
)
def test_a_wrong_value_stated_as_the_answer_fails_in_every_move(
    text: str, may_state_answer: bool
) -> None:
    """Numbers 0-2 pass the number audit freely, so a claim "the slope is 2" is read as one."""
    question = "What is the slope of the line through (3, -1) and (-5, 3)?"
    solution = solve(question)
    assert solution is not None
    finding = audit_answer(text, solution, question, may_state_answer=may_state_answer)
    assert finding is not None and finding.reason == "wrong_answer", finding


def test_a_given_value_and_the_checked_texts_own_example_are_not_claims() -> None:
    question = "Hypotenuse 13, one leg 12. What is the other leg?"
    solution = solve(question)
    assert solution is not None
    text = "The hypotenuse is 13 and one leg is 12, so the other leg is 5."
    assert audit_answer(text, solution, question, may_state_answer=True) is None
    example = "Here is a similar problem. 8² + 15² = 64 + 225 = 289, so the hypotenuse is 17."
    finding = audit_answer(example, solution, question, may_state_answer=False, checked=example)
    assert finding is None


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("Hypotenuse is 17 and one leg is 8, what's the other leg?", "The other leg is 17."),
        ("Legs are 9 and 12, find the hypotenuse.", "In this case, the hypotenuse is 12."),
        ("Hypotenuse 13, one leg 12. What is the other leg?", "So the answer is 13."),
    ],
)
def test_the_asked_side_stated_as_a_given_is_a_wrong_claim(question: str, text: str) -> None:
    """A given's value is exempt only where the text names the given; the asked side (or the
    answer) stated as a given's value is the wrong answer, in a hint as anywhere."""
    solution = solve(question)
    assert solution is not None
    finding = audit_answer(text, solution, question, may_state_answer=False)
    assert finding is not None and finding.reason == "wrong_answer", finding


@pytest.mark.parametrize(
    ("question", "text", "reason"),
    [
        ("What is -9 + -5?", "Adding -5 is subtracting 5: -9 + (-5) = -9 - 5 = -14.", None),
        ("What is -9 + -5?", "-9 + (-5) = -9 - 5 = -4, so the answer is -14.", "false_calculation"),
        ("What is 7 times 8?", "7 × 8 = 7 × 4 × 2 = 54.", "false_calculation"),
        ("What is √(9/16) + √0.36?", "√(9/16) = 0.75, √0.36 = 0.6, and 0.75 + 0.6 = 1.35.", None),
        ("What is 3/4 × 1/2?", "Multiply across: (3 × 1)/(4 × 2) = 3/8.", None),
        ("Solve (x + 3)/2 = 2x - 3", "Split it: x/2 + 3/2 = 2x - 3, so x = 3.", None),
    ],
)
def test_every_link_of_a_chain_of_equals_is_checked(
    question: str, text: str, reason: str | None
) -> None:
    """A chain is read whole ("a = b = c": each link); a root, a fraction or an equation with a
    letter is not mistaken for a calculation on the numbers next to it."""
    solution = solve(question)
    assert solution is not None
    finding = audit_answer(text, solution, question, may_state_answer=True)
    assert (finding.reason if finding else None) == reason, finding


@pytest.mark.parametrize(
    ("question", "text", "reason"),
    [
        ("hint please: 40 - 5 × 6", "Find the difference first.\n40 - 5 = ?", "unchecked_step"),
        ("Can you give me a hint for 12 + 24 ÷ 6 × 2?", "12 + 24 = ?", "unchecked_step"),
        ("What is 2 + 3 × 4?", "Add first: 2 + 3 = ? Then times 4.", "unchecked_step"),
        ("hint please: 40 - 5 × 6", "Start with this step.\n5 × 6 = ?", None),
        ("Can you give me a hint for 12 + 24 ÷ 6 × 2?", "First 24 ÷ 6 = ? Then × 2.", None),
        ("Solve 2x + 3 = 11", "Subtract 3 from both sides: 2x = ?", None),
        ("What is 3/4 × 2/3?", "Multiply across: (3 × 2)/(4 × 3) = ?", None),
    ],
)
def test_a_step_the_learner_is_asked_to_work_out_is_on_the_solutions_path(
    question: str, text: str, reason: str | None
) -> None:
    """A hint that asks for a step off the solution's path leads the learner wrong without
    stating a number: 40 - 5 = ? for 40 - 5 × 6 breaks the order of operations."""
    solution = solve(question)
    assert solution is not None
    finding = audit_answer(text, solution, question, may_state_answer=False)
    assert (finding.reason if finding else None) == reason, finding
