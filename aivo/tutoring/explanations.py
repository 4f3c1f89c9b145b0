"""Worked solutions written for the learner's grade band, from the checker's steps.

Steps stay the checker's own (correct by construction); around them each band gets the words it
is ready for: a younger learner a short lead-in and the answer, an older one the idea behind the
method (what a percent, a slope or an equation's two sides mean) in the subject's vocabulary.
The steps read the same at every grade, so which register's words go around them is decided by
measuring the whole text against the grade's reading band.
"""

from __future__ import annotations

import re

from aivo.curriculum.readability import (
    MIN_PROSE_WORDS,
    flesch_kincaid_grade,
    prose_words,
    target_band,
)
from aivo.tutoring.solution import Solution

# The idea behind each kind of problem, for grades 3-5, 6-8 and 9-12.
_IDEAS: dict[str, tuple[str, str, str]] = {
    "×": (
        "Multiplying means adding equal groups.",
        "Multiplication combines equal groups, so the product counts every item in all of them.",
        "Multiplication is repeated addition of equal groups: the product counts every element "
        "across all of the groups.",
    ),
    "÷": (
        "Dividing means sharing into equal groups.",
        "Division splits a quantity into equal groups and asks how large each group is.",
        "Division partitions a quantity into equal groups and determines the size of each "
        "group; it is the inverse operation of multiplication.",
    ),
    "+": (
        "Adding puts two amounts together.",
        "Addition combines two quantities into a single total.",
        "Addition combines two quantities into a single total, and the order of the addends "
        "does not change the sum.",
    ),
    "-": (
        "Subtracting takes one amount away from another.",
        "Subtraction finds the difference between two quantities.",
        "Subtraction determines the difference between two quantities; it is the inverse "
        "operation of addition.",
    ),
    "fractions": (
        "To add or take away fractions, the pieces must be the same size.",
        "Fractions can be added or subtracted only when they share a denominator, so we rewrite "
        "them with a common one first.",
        "Fractions can be added or subtracted only when they share a common denominator, so "
        "each is first rewritten as an equivalent fraction with the least common denominator.",
    ),
    "order_of_operations": (
        "Do the steps in order: brackets, powers, times and divide, then plus and minus.",
        "The order of operations says: parentheses first, then exponents, then multiplication "
        "and division from left to right, then addition and subtraction.",
        "The order of operations establishes a convention: evaluate parentheses first, then "
        "exponents, then multiplication and division from left to right, and finally addition "
        "and subtraction.",
    ),
    "power": (
        "A power means multiplying a number by itself again and again.",
        "An exponent tells how many times the base is used as a factor.",
        "An exponent indicates how many times the base appears as a repeated factor in the "
        "product.",
    ),
    "root": (
        "A square root asks which number times itself makes this number.",
        "A square root undoes squaring: it is the nonnegative number whose square equals the "
        "given value.",
        "A square root inverts squaring: the principal square root is the nonnegative number "
        "whose square equals the given value.",
    ),
    "percent": (
        "A percent means parts out of 100.",
        "A percent is a ratio out of one hundred, so a percentage of an amount is that many "
        "hundredths of it.",
        "A percent expresses a ratio with a denominator of one hundred, so a percentage of a "
        "quantity equals that many hundredths of the quantity.",
    ),
    "equation": (
        "An equation is like a balance: do the same thing to both sides.",
        "To solve a linear equation, isolate the variable: apply the same inverse operation to "
        "both sides, so the equation stays balanced and keeps the same solution.",
        "Solving a linear equation means isolating the variable: applying the same inverse "
        "operation to both sides preserves equality, so each resulting equation has exactly "
        "the same solution as the original.",
    ),
    "area": (
        "Area is the space inside a shape.",
        "Area measures the two-dimensional space a figure covers, in square units.",
        "Area measures the two-dimensional region a figure covers, expressed in square units.",
    ),
    "perimeter": (
        "Perimeter is the distance all the way around a shape.",
        "Perimeter is the total length of a figure's boundary, found by adding its sides.",
        "Perimeter is the total length of a figure's boundary, calculated by adding the "
        "lengths of all of its sides.",
    ),
    "volume": (
        "Volume is how much space a box takes up.",
        "Volume measures the three-dimensional space a solid occupies, in cubic units.",
        "Volume measures the three-dimensional space a solid occupies, expressed in cubic units.",
    ),
    "pythagorean": (
        "In a right triangle, the two short sides and the long side are linked.",
        "The Pythagorean theorem states that in a right triangle the squares of the legs add "
        "up to the square of the hypotenuse.",
        "The Pythagorean theorem states that in every right triangle the sum of the squares "
        "of the legs equals the square of the hypotenuse.",
    ),
    "slope": (
        "Slope tells how steep a line is.",
        "Slope measures a line's steepness: the vertical change divided by the horizontal "
        "change between two points.",
        "Slope quantifies a line's steepness as the ratio of the vertical change to the "
        "horizontal change between any two distinct points.",
    ),
    "rounding": (
        "Rounding finds the nearest easy number. Look at the next digit to the right.",
        "Rounding replaces a number with the nearest multiple of a place value; the digit to "
        "the right of that place decides whether to round up or down.",
        "Rounding replaces a number with the nearest multiple of a chosen place value; the digit "
        "immediately to the right of that place determines the direction.",
    ),
    "mean": (
        "The mean shares the total equally. Add the numbers, then divide by how many.",
        "The mean, or average, is the total shared equally: the sum of the values divided by "
        "how many values there are.",
        "The arithmetic mean is the sum of the values divided by their count: the value each "
        "would have if the total were distributed equally.",
    ),
    "median": (
        "The median is the middle number once the numbers are in order.",
        "The median is the middle value of a data set in order; with an even number of values, "
        "it is halfway between the two middle ones.",
        "The median is the central value of an ordered data set; for an even count it is the "
        "mean of the two central values.",
    ),
    "range": (
        "The range tells how spread out the numbers are: greatest minus least.",
        "The range measures how spread out data are: the greatest value minus the least value.",
        "The range measures the spread of a data set as the difference between its maximum and "
        "minimum values.",
    ),
    "rate": (
        "Distance is speed times time. Speed tells how far you go in each hour.",
        "Distance, speed and time are linked: distance = speed × time, so speed = distance ÷ "
        "time and time = distance ÷ speed.",
        "Distance, rate and time satisfy d = r × t; solving for the unknown quantity gives "
        "r = d ÷ t or t = d ÷ r, with consistent units.",
    ),
    "fraction_of_whole": (
        "A fraction names parts of a whole: the parts you count over all the equal parts.",
        "A fraction of a whole is the number of parts counted over the number of equal parts "
        "the whole was divided into.",
        "A fraction of a whole expresses the counted parts relative to the total number of "
        "equal parts, reduced to lowest terms.",
    ),
    "conversion": (
        "To change to a smaller unit, multiply. To change to a bigger unit, divide.",
        "Converting to a smaller unit takes more of them, so multiply; converting to a larger "
        "unit takes fewer, so divide.",
        "Converting between units multiplies by the conversion factor toward smaller units and "
        "divides by it toward larger ones; the quantity itself is unchanged.",
    ),
}
_ONE_OPERATION = re.compile(r"-?[\d./]+ ([+\-×÷]) -?[\d./]+")


def idea(solution: Solution, grade: int) -> str | None:
    """The idea behind the method, in the band's words; none before grade 3."""
    return None if grade < 3 else _idea(solution, band(grade))


def _idea(solution: Solution, register: int) -> str | None:
    operation = _ONE_OPERATION.fullmatch(solution.problem)
    key = operation.group(1) if operation else solution.kind
    if key in ("+", "-") and "/" in solution.problem:
        key = "fractions"
    elif "√" in solution.problem:
        key = "root"
    ideas = _IDEAS.get(key)
    return None if ideas is None else ideas[register]


def band(grade: int) -> int:
    """0: K-5, 1: grades 6-8, 2: grades 9-12: the registers the tutor's own sentences use."""
    return 0 if grade <= 5 else 1 if grade <= 8 else 2


# The tutor's own sentences around checked steps, per register: plain for young learners,
# fuller and more precise for older ones (each band reads at its own level).
HINT_LEADS = (
    ("Start with this step.", "Next step."),
    (
        "Begin by working out the first step of the problem on your own.",
        "Now continue with the next step, using the result you found before.",
    ),
    (
        "Consider the first operation, which simplifies the problem before anything else.",
        "Next, apply the following operation to the expression you obtained previously.",
    ),
)
NOT_YET = (
    "Not quite yet.",
    "Not quite yet, but your method may be close. Look carefully at this step and redo the "
    "calculation.",
    "Not quite yet: your reasoning may be close, but the result is not correct. Reexamine the "
    "following computation carefully, verifying each intermediate result.",
)
# A confirmation and a closing come in one more register than the ideas: a fuller one for
# grades 9-12, whose plain checked steps otherwise pull a whole text for grades 11-12 below
# their band (measured on the bench's problems at every grade: confirmations in band 163 of
# 208 -> 206 of 208, worked solutions 184 of 210 -> 203 of 210).
CONFIRMED = (
    "Yes, {answer} is right! Here is why.",
    "Yes, {answer} is correct, and here is the reasoning that confirms it.",
    "Yes, {answer} is correct; the following reasoning demonstrates why the result holds.",
    "Yes, {answer} is correct; the reasoning below demonstrates why this value satisfies the "
    "original problem, and each intermediate computation can be verified independently.",
)
SIMILAR = (
    "Here is a similar problem, worked out. Now try yours the same way.",
    "Here is a similar problem, solved step by step. Use the same method on yours.",
    "Consider an analogous problem, solved below; apply the identical method to your own.",
)


CLOSINGS = (
    "So the answer is {answer}.",
    "Therefore, the answer is {answer}, which you can verify by checking each step.",
    "Therefore, the answer is {answer}; verifying each computation in reverse confirms the result.",
    "Therefore, the answer is {answer}; substituting it back into the original problem and "
    "verifying each computation in reverse confirms the result.",
)
STEP_BY_STEP = "Let's work it out step by step."
# The answer to a computation the checker could not solve when the model stated a number it
# could not vouch for: no number at all, and a way to work it out (per register).
WORK_IT_OUT = (
    "I can't check the numbers in this one, so I won't guess them. Let's work it out together.\n"
    "1. What does the question ask you to find?\n"
    "2. Which numbers does it give you? What does each one mean?\n"
    "3. Which operation joins them: add, subtract, multiply or divide?\n"
    "4. Work it out. Then ask yourself: does my answer make sense?",
    "I can't check the numbers in this problem, so I won't state any I'm not sure of. Here is a "
    "way to work it out yourself:\n"
    "1. Decide what the question asks you to find.\n"
    "2. List the numbers it gives and what each one measures.\n"
    "3. Choose the operations that connect them to what you need.\n"
    "4. Work it out, then check that your answer is reasonable.",
    "I can't verify the numbers in this problem, so I won't state a result I cannot check. A "
    "reliable approach:\n"
    "1. Identify precisely which quantity the question asks for.\n"
    "2. List the given values, with their units and meanings.\n"
    "3. Choose the relationship or formula connecting the givens to the unknown.\n"
    "4. Carry out the computation, then verify the result, for instance by estimating it or "
    "substituting it back.",
)


def worked_text(solution: Solution, grade: int) -> str:
    """The whole worked solution for a learner of `grade` (K is 0)."""
    numbered = "\n".join(f"{i}. {step}" for i, step in enumerate(solution.steps, 1))
    closings = [c.format(answer=solution.answer_text) for c in CLOSINGS]
    return _on_level(
        [
            f"{lead or STEP_BY_STEP}\n{numbered}\n{closings[r]}"
            for lead, r in _registers(solution, grade)
        ],
        grade,
    )


def confirmed_text(solution: Solution, grade: int) -> str:
    """Why a learner's right answer is right: the confirmation, the idea and the steps."""
    confirmations = [c.format(answer=solution.answer_text) for c in CONFIRMED]
    return _on_level(
        [
            "\n".join(filter(None, [confirmations[r], lead, *solution.steps]))
            for lead, r in _registers(solution, grade)
        ],
        grade,
    )


def _registers(solution: Solution, grade: int) -> list[tuple[str | None, int]]:
    """The idea and the register of the tutor's other sentences, each in the learner's register
    or the one next to it (for grades 9-12 the fuller one above theirs), the learner's own first
    (none but their own, and no idea, before grade 3): the checker's steps weigh on the measured
    level as much as the tutor's words around them, so the words are chosen by measuring the
    whole."""
    own = band(grade)
    if grade < 3:
        return [(None, own)]
    ideas, frames = (
        [r for r in (own, own - 1, own + 1) if 0 <= r < count] for count in (3, len(CLOSINGS))
    )
    pairs = sorted(
        ((i, c) for i in ideas for c in frames), key=lambda p: abs(p[0] - own) + abs(p[1] - own)
    )
    return [(_idea(solution, i), c) for i, c in pairs]


def _on_level(texts: list[str], grade: int) -> str:
    """The first of `texts` (the learner's own register first) unless it is long enough to
    measure and reads outside the grade's band: then the first that reads within it, else the
    one that reads nearest. FK cannot place a shorter text (`MIN_PROSE_WORDS`), so a short
    worked solution stays in the learner's own register."""
    low, high = target_band(grade)

    def distance(text: str) -> float:
        level = max(flesch_kincaid_grade(text), 0.0)
        return max(low - level, level - high, 0.0)

    if prose_words(texts[0]) < MIN_PROSE_WORDS:
        return texts[0]
    distances = {}
    for text in texts:  # measured in order, up to the first within the band
        distances[text] = distance(text)
        if not distances[text]:
            return text
    return min(texts, key=distances.__getitem__)  # the first of equals
