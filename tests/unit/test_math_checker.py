"""The math checker reads many phrasings of each K-12 problem kind and answers exactly."""

from __future__ import annotations

import time

import pytest
from sympy import Integer, Rational, sqrt

from aivo.tutoring import Solution, solve

R = Rational

# (question, kind, exact answer, answer_text); answers worked by hand.
ARITHMETIC = [
    ("What is 7 times 8?", "arithmetic", 56, "56"),
    ("7 x 8", "arithmetic", 56, "56"),
    ("7×8", "arithmetic", 56, "56"),
    ("7x8", "arithmetic", 56, "56"),
    ("what is 7 * 8", "arithmetic", 56, "56"),
    ("What is seven times eight?", "arithmetic", 56, "56"),
    ("7 multiplied by 8", "arithmetic", 56, "56"),
    ("56 divided by 7", "arithmetic", 8, "8"),
    ("56 ÷ 7", "arithmetic", 8, "8"),
    ("What's 56 / 7?", "arithmetic", 8, "8"),
    ("fifty-six divided by seven", "arithmetic", 8, "8"),
    ("12 minus -5", "arithmetic", 17, "17"),
    ("12 - -5", "arithmetic", 17, "17"),
    ("12 minus negative 5", "arithmetic", 17, "17"),
    ("-3 + 10", "arithmetic", 7, "7"),
    ("What is -4 times 6?", "arithmetic", -24, "-24"),
    ("3/4 + 1/8", "arithmetic", R(7, 8), "7/8"),
    ("What is 1/2 + 1/3?", "arithmetic", R(5, 6), "5/6"),
    ("5/6 - 1/3", "arithmetic", R(1, 2), "1/2"),
    ("2/3 * 3/4", "arithmetic", R(1, 2), "1/2"),
    ("what's 2.5 multiplied by 4", "arithmetic", 10, "10"),
    ("0.1 + 0.2", "arithmetic", R(3, 10), "0.3"),
    ("What is 3.5 + 1.25?", "arithmetic", R(19, 4), "4.75"),
    ("10 - 0.75", "arithmetic", R(37, 4), "9.25"),
    ("subtract 9 from 20", "arithmetic", 11, "11"),
    ("Subtract nine from twenty.", "arithmetic", 11, "11"),
    ("the sum of 3 and 4", "arithmetic", 7, "7"),
    ("What is the sum of thirteen and nineteen?", "arithmetic", 32, "32"),
    ("product of 6 and 7", "arithmetic", 42, "42"),
    ("What is the product of 12 and 11?", "arithmetic", 132, "132"),
    ("the difference between 50 and 8", "arithmetic", 42, "42"),
    ("the quotient of 45 and 9", "arithmetic", 5, "5"),
    ("add 15 and 27", "arithmetic", 42, "42"),
    ("add 6 to 19", "arithmetic", 25, "25"),
    ("multiply 9 by 6", "arithmetic", 54, "54"),
    ("divide 81 by 9", "arithmetic", 9, "9"),
    ("take 4 away from 10", "arithmetic", 6, "6"),
    ("half of 18", "arithmetic", 9, "9"),
    ("What is half of 50?", "arithmetic", 25, "25"),
    ("one third of 27", "arithmetic", 9, "9"),
    ("a quarter of 20", "arithmetic", 5, "5"),
    ("two thirds of 27", "arithmetic", 18, "18"),
    ("What is 100 plus 250?", "arithmetic", 350, "350"),
    ("twenty plus fifty", "arithmetic", 70, "70"),
    ("What is 1,000 - 1?", "arithmetic", 999, "999"),
    ("9 minus 12", "arithmetic", -3, "-3"),
    ("What is 7 divided by 2?", "arithmetic", R(7, 2), "7/2"),
    ("What is 3 + 4?", "arithmetic", 7, "7"),
    ("What is 3 − 4?", "arithmetic", -1, "-1"),
    ("calculate 144 / 12", "arithmetic", 12, "12"),
    ("What is 2/5 of 30?", "arithmetic", 12, "12"),
    ("What's 1/2 of 10?", "arithmetic", 5, "5"),
    ("What is three fourths of 12?", "arithmetic", 9, "9"),
    ("What is 2 1/2 + 1 1/4?", "arithmetic", R(15, 4), "15/4"),
    ("sum of 1/2 and 1/3", "arithmetic", R(5, 6), "5/6"),
    ("Can you help me with 9 times 6?", "arithmetic", 54, "54"),
    ("How much is 25 plus 17?", "arithmetic", 42, "42"),
    ("What is 3 + 4 = ?", "arithmetic", 7, "7"),
    ("7 x 8 = ___", "arithmetic", 56, "56"),
    ("What is 1/4 as a decimal?", "arithmetic", R(1, 4), "0.25"),
    ("What is 100 - 37?", "arithmetic", 63, "63"),
    ("What is 10 minus 3 plus 2?", "order_of_operations", 9, "9"),
    ("What is 20 divided by 4 times 5?", "order_of_operations", 25, "25"),
]

PERCENT = [
    ("What is 15% of 80?", "percent", 12, "12"),
    ("15 percent of 80", "percent", 12, "12"),
    ("Find 20% of 150.", "percent", 30, "30"),
    ("what is fifty percent of 90", "percent", 45, "45"),
    ("What is 12.5% of 40?", "percent", 5, "5"),
    ("What is 10% of $45?", "percent", R(9, 2), "$4.50"),
    ("A $40 shirt is 25% off. What is the sale price?", "percent", 30, "$30"),
    ("A $40 shirt is 25% off. How much do you save?", "percent", 10, "$10"),
    ("Shoes cost $60 and are 10% off. What do you pay?", "percent", 54, "$54"),
    ("A $80 bike is on sale for 15 percent off. What is the new price?", "percent", 68, "$68"),
    ("what percent of 50 is 10", "percent", 20, "20%"),
    ("What percent of 200 is 50?", "percent", 25, "25%"),
    ("12 is what percent of 48?", "percent", 25, "25%"),
    ("What percentage of 8 is 2?", "percent", 25, "25%"),
]

POWERS = [
    ("3 squared", "power", 9, "9"),
    ("What is 12 squared?", "power", 144, "144"),
    ("2 to the power of 5", "power", 32, "32"),
    ("2^5", "power", 32, "32"),
    ("What is 10^3?", "power", 1000, "1000"),
    ("5 cubed", "power", 125, "125"),
    ("2 to the 10th power", "power", 1024, "1024"),
    ("square root of 81", "power", 9, "9"),
    ("What is the square root of 49?", "power", 7, "7"),
    ("√144", "power", 12, "12"),
    ("√50", "power", 5 * sqrt(2), "5√2"),
    ("√50 + √2", "order_of_operations", 6 * sqrt(2), "6√2"),
    ("(-2)^2", "power", 4, "4"),
    ("2^-2", "power", R(1, 4), "1/4"),
]

ORDER = [
    ("3 + 4 * 2", "order_of_operations", 11, "11"),
    ("(3 + 4) * 2", "order_of_operations", 14, "14"),
    ("10 - 2^3 / 4", "order_of_operations", 8, "8"),
    ("What is 2 + 3 × 4?", "order_of_operations", 14, "14"),
    ("20 ÷ 4 + 1", "order_of_operations", 6, "6"),
    ("20 ÷ (4 + 1)", "order_of_operations", 4, "4"),
    ("8 - 3 - 2", "order_of_operations", 3, "3"),
    ("8 - (3 - 2)", "order_of_operations", 7, "7"),
    ("2 * 3 + 4 * 5", "order_of_operations", 26, "26"),
    ("48 / 6 / 2", "order_of_operations", 4, "4"),
    ("-2^2 + 10", "order_of_operations", 6, "6"),
    ("2(3 + 4)", "order_of_operations", 14, "14"),
    ("(1 + 2)(3 + 4)", "order_of_operations", 21, "21"),
    ("5 + 3 squared", "order_of_operations", 14, "14"),
    ("√(9 + 16)", "order_of_operations", 5, "5"),
    ("3 + 4 * 2 - 6 / 3", "order_of_operations", 9, "9"),
]

EQUATIONS = [
    ("Solve 2x + 3 = 11", "equation", 4, "x = 4"),
    ("How do I solve 3(x - 2) = 12?", "equation", 6, "x = 6"),
    ("5y - 4 = 2y + 8", "equation", 4, "y = 4"),
    ("x/3 = 4", "equation", 12, "x = 12"),
    ("Solve for x: x + 7 = 15", "equation", 8, "x = 8"),
    ("solve x - 9 = -2", "equation", 7, "x = 7"),
    ("4n = 28", "equation", 7, "n = 7"),
    ("What is x if 7 + x = 10?", "equation", 3, "x = 3"),
    ("2(x + 1) = x + 5", "equation", 3, "x = 3"),
    ("Solve 3x = 2", "equation", R(2, 3), "x = 2/3"),
    ("10 = 2a + 4", "equation", 3, "a = 3"),
    ("-x + 2 = 7", "equation", -5, "x = -5"),
    ("0.5x = 3", "equation", 6, "x = 6"),
    ("x/2 + 1 = 6", "equation", 10, "x = 10"),
    ("6 - 2x = 0", "equation", 3, "x = 3"),
]

WORD = [
    ("Sam has 12 apples and gives away 5. How many are left?", 7, "7 apples"),
    ("Sam has twelve apples and gives away five. How many apples are left?", 7, "7 apples"),
    ("Lily had 20 balloons. 6 flew away. How many balloons does she have left?", 14, "14 balloons"),
    ("Tom had 9 cookies and ate 4. How many cookies remain?", 5, "5 cookies"),
    ("24 cookies shared equally among 6 friends, how many does each get?", 4, "4 cookies"),
    ("If 30 pencils are split equally between 5 kids, how many does each kid get?", 6, "6 pencils"),
    (
        "18 stickers are divided equally among 3 children. How many stickers does each child get?",
        6,
        "6 stickers",
    ),
    ("3 boxes with 8 crayons each, how many crayons in all?", 24, "24 crayons"),
    (
        "There are 4 bags with 6 marbles in each bag. How many marbles are there in total?",
        24,
        "24 marbles",
    ),
    ("5 packs of 10 cards each. How many cards altogether?", 50, "50 cards"),
    ("Maria had 15 stickers and got 7 more. How many does she have now?", 22, "22 stickers"),
    ("Ben has 8 toy cars. He buys 5 more. How many toy cars does he have now?", 13, "13 toy cars"),
    ("There are 6 red birds and 9 blue birds. How many birds are there in all?", 15, "15 birds"),
    ("A baker makes 6 trays of 12 muffins. How many muffins in total?", 72, "72 muffins"),
    (
        "Jake has 36 marbles and puts them equally into 4 bags. How many marbles in each bag?",
        9,
        "9 marbles",
    ),
    ("Emma has 10 pencils. She loses 3. How many pencils does she have left?", 7, "7 pencils"),
]

FORMULAS = [
    ("A rectangle is 5 cm long and 3 cm wide. What is its area?", "area", 15, "15 cm²"),
    ("What is the area of a rectangle 8 m by 4 m?", "area", 32, "32 m²"),
    ("A garden is 12 feet long and 8 feet wide. What is the area?", "area", 96, "96 ft²"),
    ("Find the area of a rectangle with length 7 and width 2.", "area", 14, "14"),
    ("What is the perimeter of a rectangle 5 cm by 3 cm?", "perimeter", 16, "16 cm"),
    (
        "A rectangle has length 10 inches and width 4 inches. Find the perimeter.",
        "perimeter",
        28,
        "28 in",
    ),
    ("What is the area of a square with side 6 cm?", "area", 36, "36 cm²"),
    ("A square has sides of 9 feet. What is its perimeter?", "perimeter", 36, "36 ft"),
    ("A box is 2 cm by 3 cm by 4 cm. What is its volume?", "volume", 24, "24 cm³"),
    (
        "Find the volume of a rectangular prism 5 m long, 2 m wide and 3 m high.",
        "volume",
        30,
        "30 m³",
    ),
    ("What is the volume of a cube with side 3 cm?", "volume", 27, "27 cm³"),
    ("A right triangle has legs 3 and 4, how long is the hypotenuse?", "pythagorean", 5, "5"),
    (
        "The legs of a right triangle are 6 cm and 8 cm. Find the hypotenuse.",
        "pythagorean",
        10,
        "10 cm",
    ),
    ("legs 1 and 2, how long is the hypotenuse?", "pythagorean", sqrt(5), "√5 (about 2.24)"),
    ("The hypotenuse is 13 and one leg is 5. How long is the other leg?", "pythagorean", 12, "12"),
    (
        "A right triangle has a hypotenuse of 10 m and a leg of 6 m. Find the missing leg.",
        "pythagorean",
        8,
        "8 m",
    ),
    ("What is the slope between (1, 2) and (3, 8)?", "slope", 3, "3"),
    ("Find the slope of the line through (0, 0) and (4, 2).", "slope", R(1, 2), "1/2"),
    ("slope between (-1, 4) and (1, -2)", "slope", -3, "-3"),
    ("What is the slope of the line through (2, 5) and (6, 5)?", "slope", 0, "0"),
]

ROUNDING = [
    ("Round 3,847 to the nearest hundred.", 3800, "3800"),
    ("Round 3.7 to the nearest whole number", 4, "4"),
    ("round 45 to the nearest ten", 50, "50"),  # halfway rounds up
    ("What is 63,512 rounded to the nearest thousand?", 64000, "64000"),
    ("Round 7.46 to the nearest tenth.", R(15, 2), "7.5"),
    ("round 2.345 to the nearest hundredth", R(47, 20), "2.35"),
    ("Round 3970 to the nearest hundred", 4000, "4000"),  # the carry reaches the next place
    ("Round fifteen thousand four hundred ninety-nine to the nearest ten thousand", 20000, "20000"),
    ("Round 12.5 to the nearest one", 13, "13"),
    ("What is 800 rounded to the nearest hundred?", 800, "800"),  # already there
]

AVERAGES = [
    ("What is the mean of 4, 8, 10 and 14?", "mean", 9, "9"),
    ("What is the average of 4, 6 and 8?", "mean", 6, "6"),
    ("Find the average of 85, 90, and 77.", "mean", 84, "84"),
    ("What is the mean of 4 and 7?", "mean", R(11, 2), "5.5"),
    ("the mean of the data set: 2.5, 3, 4", "mean", R(19, 6), "19/6"),
    ("Find the median of 7, 3, 9, 1", "median", 5, "5"),
    ("What is the median of 5, 2, 8?", "median", 5, "5"),
    ("What is the range of 12, 5, 20, 8?", "range", 15, "15"),
    ("range of the scores 71, 93, 88", "range", 22, "22"),
    ("I scored 80, 90 and 70 on quizzes. Find my median.", "median", 80, "80"),
    ("The temperatures were 12, 15, 9 and 20. What was the range?", "range", 11, "11"),
]

CONVERSIONS = [
    ("How many minutes are in 3 hours?", 180, "180 minutes"),
    ("How many inches are in 1 foot?", 12, "12 inches"),
    ("Convert 5 kilometers to meters.", 5000, "5000 meters"),
    ("How many feet is 36 inches?", 3, "3 feet"),
    ("3 hours is how many minutes?", 180, "180 minutes"),
    ("What is 2.5 kg in grams?", 2500, "2500 grams"),
    ("how many cups are in 2 quarts", 8, "8 cups"),
    ("convert 30 inches to feet", R(5, 2), "2.5 feet"),
    ("change 90 minutes into hours", R(3, 2), "1.5 hours"),
    ("How many milliliters are in 1.5 litres?", 1500, "1500 milliliters"),
    ("How many seconds are in 2 days?", 172800, "172800 seconds"),
    ("How many pounds is 48 ounces?", 3, "3 pounds"),
]

RATES = [
    ("A train goes 60 miles per hour for 2.5 hours. How far does it go?", 150, "150 miles"),
    ("A car drives 120 miles in 3 hours. How fast is it going?", 40, "40 miles per hour"),
    ("How long does it take to ride 30 km at 12 km per hour?", R(5, 2), "2.5 hours"),
    ("If you walk 3 miles an hour, how far do you walk in 4 hours?", 12, "12 miles"),
    ("A plane flies at 500 mph. How far does it go in 3 hours?", 1500, "1500 miles"),
    ("A runner ran 400 meters in 80 seconds. What is her speed?", 5, "5 meters per second"),
    ("how many hours to drive 150 miles at 50 mph", 3, "3 hours"),
]

PARTS = [
    (
        "A pizza is cut into 8 slices. Sam eats 3 slices. What fraction of the pizza is left?",
        R(5, 8),
        "5/8",
    ),
    ("A pizza is cut into 8 slices. Sam eats 3 slices. What fraction did he eat?", R(3, 8), "3/8"),
    ("A chocolate bar has 12 pieces. Mia ate 4 pieces. What fraction is left?", R(2, 3), "2/3"),
    (
        "A rectangle is divided into 6 equal parts. 2 parts are shaded. What fraction is shaded?",
        R(1, 3),
        "1/3",
    ),
    (
        "A cake is cut into 10 pieces and 4 are eaten. What fraction of the cake remains?",
        R(3, 5),
        "3/5",
    ),
]

CASES = (
    ARITHMETIC
    + PERCENT
    + POWERS
    + ORDER
    + EQUATIONS
    + [(q, "word_problem", a, t) for q, a, t in WORD]
    + FORMULAS
    + [(q, "rounding", a, t) for q, a, t in ROUNDING]
    + AVERAGES
    + [(q, "conversion", a, t) for q, a, t in CONVERSIONS]
    + [(q, "rate", a, t) for q, a, t in RATES]
    + [(q, "fraction_of_whole", a, t) for q, a, t in PARTS]
)


def test_there_are_many_cases() -> None:
    assert len(CASES) >= 120


@pytest.mark.parametrize(("question", "kind", "answer", "answer_text"), CASES)
def test_solves_exactly(question: str, kind: str | None, answer, answer_text: str | None) -> None:
    solution = solve(question)
    if kind is None:
        assert solution is None
        return
    assert solution is not None, question
    assert solution.kind == kind
    assert solution.answer == answer
    assert not solution.answer.has(*_floats())
    assert solution.answer_text == answer_text
    assert solution.steps and all(isinstance(step, str) and step for step in solution.steps)


def _floats() -> tuple[type, ...]:
    from sympy import Float

    return (Float,)


def test_problem_is_shown_as_read() -> None:
    assert _solved("What is 7 times 8?").problem == "7 × 8"
    assert _solved("Solve 2x + 3 = 11").problem == "2x + 3 = 11"
    assert _solved("12 minus -5").problem == "12 - (-5)"
    assert _solved("How do I solve 3(x - 2) = 12?").problem == "3(x - 2) = 12"


def test_steps_follow_the_order_of_operations() -> None:
    steps = _solved("10 - 2^3 / 4").steps
    assert [s.split(". ")[-1].split(",")[0] for s in steps] == [
        "2 ^ 3 means 2 × 2 × 2 = 8",
        "8 ÷ 4 = 2",
        "10 - 2 = 8.",
    ]
    assert "parentheses" in _solved("(3 + 4) * 2").steps[0]


def test_steps_explain_negatives_and_powers() -> None:
    assert _solved("12 minus -5").steps == (
        "Subtracting -5 is the same as adding 5: 12 - (-5) = 12 + 5 = 17.",
    )
    assert _solved("5 cubed").steps == ("5 ^ 3 means 5 × 5 × 5 = 125.",)
    assert _solved("2 to the power of 10").steps == ("2 ^ 10 = 1024.",)
    assert _solved("√50 + √2").steps == (  # "√2" is already as simple as it gets: no step
        "√50 = 5√2, so now we have 5√2 + √2.",
        "Add and subtract from left to right. 5√2 + √2 = 6√2.",
    )


def test_equation_steps_undo_one_operation_each_and_check() -> None:
    steps = _solved("Solve 2x + 3 = 11").steps
    assert steps[0] == "Subtract 3 from both sides: 2x = 8."
    assert steps[1] == "Divide both sides by 2: x = 4."
    assert steps[-1].startswith("Check:")
    assert _solved("How do I solve 3(x - 2) = 12?").steps[0].endswith("3x - 6 = 12.")


def test_fraction_steps_use_a_common_denominator() -> None:
    steps = _solved("3/4 + 1/8").steps
    assert steps == ("Use a common denominator of 8: 3/4 = 6/8.", "6/8 + 1/8 = 7/8.")
    # fractions as written, not reduced first: the steps show the learner's own numbers
    assert _solved("3/4 × 2/4").steps == (
        "Multiply the tops and the bottoms: (3 × 2)/(4 × 4) = 6/16 = 3/8.",
    )
    assert _solved("1/2 × 1/3").steps == (
        "Multiply the tops and the bottoms: (1 × 1)/(2 × 3) = 1/6.",
    )
    assert _solved("2/4 + 1/4").steps == ("2/4 + 1/4 = 3/4.",)
    assert _solved("6/8 - 1/4").steps == (
        "Use a common denominator of 8: 1/4 = 2/8.",
        "6/8 - 2/8 = 4/8.",
        "Simplify: 4/8 = 1/2.",
    )


def test_grade_changes_how_a_fraction_answer_reads() -> None:
    young, older = _solved("7 divided by 2", grade=3), _solved("7 divided by 2", grade=8)
    assert young.answer == older.answer == Rational(7, 2)
    assert (young.answer_text, older.answer_text) == ("3 1/2", "7/2")
    assert young.steps[-1] == "As a mixed number, 7/2 is 3 1/2."


def test_units_travel_with_the_answer() -> None:
    assert _solved("A rectangle is 5 cm long and 3 cm wide. What is its area?").unit == "cm²"
    assert _solved("A $40 shirt is 25% off. What is the sale price?").unit == "$"
    assert _solved("what percent of 50 is 10").unit == "%"
    assert _solved("3 boxes with 8 crayons each, how many crayons in all?").unit == "crayons"


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    solve("7 x 8")  # the first call compiles patterns and fills sympy's caches: not what we time


REFUSED = [
    "Why is the sky blue?",
    "Explain photosynthesis",
    "Who was the first president?",
    "I am 8 years old. Why is the sky blue?",
    "Read pages 10-20 of the book.",
    "The war lasted from 1914-1918. Why did it start?",
    "My phone number is 555-1234",
    "Tell me about the 3/4 time signature in music",
    "What is 7?",
    "I have 3 cats",
    "",
    # ambiguous word problems: no cue, several cues or a comparison
    "Sam has 12 apples and 5 oranges.",
    # roots with no whole-number form a learner can read, or nothing to work out
    "Evaluate √(9/16) + √0.37",
    "What is √2 + 1/2?",
    "What is √0.37 × 3/4?",
    "What is √2?",
    "Sam has 12 apples and gives away 5. He buys 3 more. How many now?",
    "Sam has 12 apples and Tom has 5. How many more apples does Sam have than Tom?",
    "Sam has 12 apples. How many are left?",
    "Sam has 5 apples and gives away 12. How many are left?",
    "25 cookies shared equally among 6 friends, how many does each get?",
    # questions with several separate computations or not linear
    "What is 3 + 4 and 5 + 6?",
    "the sum of 3 and 4 and 5",
    "What is 1/2 of 10 plus 3?",
    "I am 8. What is 7 x 8?",
    "Jake has 36 marbles and puts them into bags of 4. How many bags?",
    "2.79+3bcc65)b92",
    "Solve x^2 = 4",
    "Solve x + y = 3",
    "Solve 2x = 2x + 1",
    "2 + 2 = 5?",
    "Why does 2 + 2 = 4?",
    "What is 5 more than 12?",
    # rounding, averages and conversions that are not one of them alone
    "Round 3,847 and 2,100 to the nearest hundred.",
    "Round 3847 to the nearest hundred and then add 5",
    "Round -3.5 to the nearest whole number",
    "What is the average of 3 test scores: 80, 90 and 100?",
    "I have 3 cats and 4 dogs. What is the average?",
    "How many centimeters are in 4 inches?",
    "How many cups are in 2 liters?",
    "A car goes 60 miles in 2 hours. How far does it go in 5 hours?",
    "How many minutes are in 3 hours and 20 minutes?",
    "A car travels 60 miles per hour for 90 minutes. How far does it go?",  # units differ
    "A bike goes 12 miles in 2 hours. How far does it go in 5 hours?",  # three numbers
    "A pie is cut into 6 slices. Tom eats 8. What fraction is left?",
    "Solve 1/x = 2",
    "What is 5 / 0?",
    "square root of -4",
    "A rectangle is 5 cm long. What is its area and perimeter?",
    "What is the slope between (1, 2) and (1, 8)?",
    # unsafe or oversized input
    "9**9**9",
    "10**100000",
    "What is 10^100000?",
    "2 ** 2 ** 2 ** 2 ** 2",
    "__import__('os')",
    "__import__('os').system('ls')",
    "exec('1+1')",
    "(lambda: 1)()",
    "[1, 2] * 3",
    "1e400 * 2",
    "7 ** 0.5",
    "123456789012345678901234567890 * 2",
    "(" * 100 + "1" + ")" * 100,
    "(" * 9 + "1" + ")" * 9,
    "1 + " * 2500 + "1",
    "7" * 5000,
    "What is " + "1+" * 2000 + "1?",
    "x" * 5000,
]


@pytest.mark.parametrize("question", REFUSED)
def test_refuses_without_a_guess_and_quickly(question: str) -> None:
    # CPU time, not wall time: a busy shared machine must not fail the bound
    started = time.process_time()
    assert solve(question) is None
    assert time.process_time() - started < 0.05


def test_nesting_within_the_bound_is_solved() -> None:
    assert _solved("(" * 8 + "1 + 1" + ")" * 8).answer == 2


def test_every_case_is_fast() -> None:
    started = time.process_time()
    for question, *_ in CASES:
        solve(question)
    assert (time.process_time() - started) / len(CASES) < 0.05


def _solved(question: str, grade: int | None = None) -> Solution:
    solution = solve(question, grade)
    assert solution is not None, question
    return solution


def test_answers_are_exact_sympy_numbers() -> None:
    assert _solved("0.1 + 0.2").answer == Rational(3, 10)
    assert isinstance(_solved("7 x 8").answer, Integer)
