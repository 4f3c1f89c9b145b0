"""Reading answers out of text: a tutor's final answer, hints that give it away, learners' forms."""

from __future__ import annotations

import pytest
from sympy import Integer, Rational

from aivo.tutoring import (
    Solution,
    answer_is_correct,
    check_student_answer,
    likely_mistake,
    mentions_answer,
    solve,
    stated_answer,
)


def _solved(question: str) -> Solution:
    solution = solve(question)
    assert solution is not None, question
    return solution


# (question, tutor text, stated answer or None, correct?)
TUTOR_TEXTS = [
    ("7 x 8", "7 x 8 = 54", 54, False),
    ("7 x 8", "7 x 8 = 56", 56, True),
    ("7 x 8", "7 times 8 is 56.", 56, True),
    ("7 x 8", "Let's think. 7 times 8 equals fifty-six!", 56, True),
    ("7 x 8", "The answer is 56. Great job!", 56, True),
    ("7 x 8", "7 groups of 8 make 56", 56, True),
    ("7 x 8", "We have 7 rows of 8. Counting them all, we get 54.", 54, False),
    ("7 x 8", "You multiply 7 by 8 and that makes 56. Keep practising!", 56, True),
    ("7 x 8", "Count by 7s eight times.", None, None),
    ("7 x 8", "What do you get when you count 8 groups of 7?", None, None),
    ("7 x 8", "Multiplication means repeated addition.", None, None),
    ("56 ÷ 7", "56 divided by 7 is 8, because 7 × 8 = 56. So the answer is 8.", 8, True),
    ("Solve 2x + 3 = 11", "Subtract 3 from both sides: 2x = 8. Divide by 2: x = 4.", 4, True),
    ("Solve 2x + 3 = 11", "So x = 5.", 5, False),
    ("Solve 2x + 3 = 11", "First subtract 3 from both sides to get 2x = 8.", None, None),
    ("Solve 2x + 3 = 11", "That means x is 4.", 4, True),
    (
        "24 cookies shared equally among 6 friends, how many does each get?",
        "24 ÷ 6 = 4, so each friend gets 4 cookies.",
        4,
        True,
    ),
    (
        "24 cookies shared equally among 6 friends, how many does each get?",
        "Each friend gets 5 cookies.",
        5,
        False,
    ),
    (
        "Sam has 12 apples and gives away 5. How many are left?",
        "Sam started with 12 apples and gave 5 away, so he has 7 apples left.",
        7,
        True,
    ),
    ("3/4 + 1/8", "3/4 is 6/8, and 6/8 + 1/8 = 7/8.", Rational(7, 8), True),
    ("3/4 + 1/8", "The answer is 0.875.", Rational(7, 8), True),
    ("3/4 + 1/8", "3/4 + 1/8 = 4/12", Rational(1, 3), False),
    ("half of 1", "Half of 1 is 50%.", Rational(1, 2), True),
    ("what percent of 50 is 10", "10 out of 50 is 20%.", 20, True),
    ("A $40 shirt is 25% off. What is the sale price?", "You pay $30.", 30, True),
    ("A $40 shirt is 25% off. What is the sale price?", "The sale price is $35.", 35, False),
    ("legs 1 and 2, how long is the hypotenuse?", "The hypotenuse is about 2.24.", None, True),
    ("0.1 + 0.2", "0.1 + 0.2 = 0.3", Rational(3, 10), True),
    ("0.1 + 0.2", "0.1 + 0.2 = 0.30000000000000004", None, True),
    ("0.1 + 0.2", "0.1 + 0.2 = 0.3001", None, False),
    ("1 / 3", "That is about 0.33", None, True),
    ("1 / 3", "That is about 0.3", None, False),
    # a check that restates the question's number after the answer: the answer stands
    ("What is √324?", "√324 = 18, because 18 × 18 = 324.", 18, True),
    ("What is √324?", "√324 = 19, because 19 × 19 = 324.", 19, False),
    ("7 x 8", "7 × 8 = 56. Check: 56 ÷ 8 = 7.", 56, True),
    ("56 ÷ 8", "56 ÷ 8 = 8.", None, None),
    ("1296 divided by 12", "1296 divided by 12 is 12.", None, None),
    # a percent question's answer is its percent; the decimal before it is a step
    ("12 is what percent of 48?", "12 ÷ 48 = 0.25. Multiply by 100: 25%.", 25, True),
    ("12 is what percent of 48?", "12 ÷ 48 = 0.25. Multiply by 100: 2.5%.", Rational(5, 2), False),
    ("12 is what percent of 48?", "12 ÷ 48 = 0.25", Rational(1, 4), False),
]


@pytest.mark.parametrize(("question", "text", "stated", "correct"), TUTOR_TEXTS)
def test_final_answer_of_a_tutor_text(question: str, text: str, stated, correct) -> None:
    solution = _solved(question)
    if stated is not None or correct is None:
        assert stated_answer(text, solution) == stated
    assert answer_is_correct(text, solution) is correct


def test_stated_answer_is_exact() -> None:
    value = stated_answer("The answer is 2.5", _solved("what's 2.5 multiplied by 1"))
    assert value == Rational(5, 2) and isinstance(value, Rational)


# (question, hint, gives the answer away?)
HINTS = [
    ("7 x 8", "Think of 7 times 8 as 7 groups of 8. Try skip counting by 8.", False),
    ("7 x 8", "What is 7 × 8? You know 7 × 7 = 49; add one more 7.", False),
    ("7 x 8", "7 times 8 is 56.", True),
    ("7 x 8", "It is fifty-six.", True),
    ("7 x 8", "The answer is 5 tens and 6 ones", False),
    ("56 ÷ 7", "How many 7s fit in 56? Think about 56/7 as sharing.", False),
    ("56 ÷ 7", "56 ÷ 7 = 8", True),
    ("half of 1", "Half of something is 0.5 of it", True),
    ("half of 1", "That is 50% of the whole.", True),
    ("half of 1", "Think of sharing 1 pizza between 2 people.", False),
    ("Solve 2x + 3 = 11", "Start by subtracting 3 from both sides of 2x + 3 = 11.", False),
    ("Solve 2x + 3 = 11", "You should find that x = 4.", True),
    ("3/4 + 1/8", "Find a common denominator: 3/4 is the same as 6/8.", False),
    ("3/4 + 1/8", "6/8 + 1/8 = 7/8", True),
    ("what percent of 50 is 10", "Divide 10 by 50 and multiply by 100.", False),
    ("what percent of 50 is 10", "It is 20%.", True),
    # the answer equals a number of the question: only an explicit statement counts
    ("7 x 1", "Anything times 1 stays the same, like 7 times 1.", False),
    ("7 x 1", "So 7 x 1 = 7.", True),
    ("7 x 1", "The answer is 7.", True),
    # an equation's answer as a term of an expression with the letter is not its value
    ("Solve 3(x - 2) = 12", "Multiply out: 3x - 6 = ?", False),
    ("Solve 3(x - 2) = 12", "Then 6x = 36, and 6 + 2x = 18.", False),
    ("Solve 3(x - 2) = 12", "So x = 6.", True),
    ("Solve 3(x - 2) = 12", "So 6 is the value of x.", True),
]


@pytest.mark.parametrize(("question", "hint", "gives_away"), HINTS)
def test_mentions_answer(question: str, hint: str, gives_away: bool) -> None:
    assert mentions_answer(hint, _solved(question)) is gives_away


# (question, learner's answer, right? None when no number)
STUDENT = [
    ("7 x 8", "56", True),
    ("7 x 8", " 56 ", True),
    ("7 x 8", "56 apples", True),
    ("7 x 8", "fifty-six", True),
    ("7 x 8", "I think it's 56", True),
    ("7 x 8", "54", False),
    ("7 x 8", "15", False),
    ("7 x 8", "I don't know", None),
    ("7 x 8", "", None),
    ("Solve 2x + 3 = 11", "x=4", True),
    ("Solve 2x + 3 = 11", "x = 4", True),
    ("Solve 2x + 3 = 11", "4", True),
    ("Solve 2x + 3 = 11", "x = 5", False),
    ("half of 1", "1/2", True),
    ("half of 1", "0.5", True),
    ("half of 1", "2/4", True),
    ("half of 1", "50%", True),
    ("half of 1", "0.6", False),
    ("3/4 + 1/8", "7/8", True),
    ("3/4 + 1/8", "7 / 8", True),
    ("3/4 + 1/8", "0.875", True),
    ("3/4 + 1/8", "4/12", False),
    ("7 divided by 2", "3 1/2", True),
    ("7 divided by 2", "3.5", True),
    ("A $40 shirt is 25% off. What is the sale price?", "$30", True),
    ("A $40 shirt is 25% off. What is the sale price?", "30 dollars", True),
    ("A $40 shirt is 25% off. What is the sale price?", "thirty", True),
    ("A $40 shirt is 25% off. What is the sale price?", "$10", False),
    ("what percent of 50 is 10", "20%", True),
    ("what percent of 50 is 10", "20", True),
    ("what percent of 50 is 10", "25%", False),
    ("legs 1 and 2, how long is the hypotenuse?", "√5", True),
    ("legs 1 and 2, how long is the hypotenuse?", "2.24", True),
    ("legs 1 and 2, how long is the hypotenuse?", "2.2", False),
    ("√50", "5√2", True),
    ("2 to the power of 5", "2^5", True),
    ("3/4 + 1/8", "7/8 cups", True),
    ("12 minus -5", "17", True),
    ("12 minus -5", "7", False),
    ("What is -4 times 6?", "-24", True),
    ("What is -4 times 6?", "24", False),
    ("A rectangle is 5 cm long and 3 cm wide. What is its area?", "15 cm²", True),
    ("A rectangle is 5 cm long and 3 cm wide. What is its area?", "15 square cm", True),
    ("A rectangle is 5 cm long and 3 cm wide. What is its area?", "16", False),
    ("1,000 + 500", "1,500", True),
]


@pytest.mark.parametrize(("question", "answer", "right"), STUDENT)
def test_check_student_answer(question: str, answer: str, right: bool | None) -> None:
    assert check_student_answer(_solved(question), answer) is right


def test_likely_mistake_names_the_slip() -> None:
    product, difference = _solved("7 x 8"), _solved("12 - 5")
    assert likely_mistake(product, Integer(15)) == "you added instead of multiplying"
    assert likely_mistake(product, Integer(54)) is None
    assert likely_mistake(product, Integer(56)) is None
    assert likely_mistake(difference, Integer(17)) == "you added instead of subtracting"
    assert likely_mistake(_solved("Solve 2x + 3 = 11"), Integer(7)) is None
