"""The checker reads questions as learners and parents write them, and refuses what it cannot
read with confidence; every answer here is worked by hand."""

from __future__ import annotations

import pytest
from sympy import Rational, sqrt

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


# Word problems: the rest of a group, what several containers hold; percents read from a story.
STORIES = [
    ("A team has 18 players and 7 of them are girls. How many are boys?", 11, "11 boys"),
    ("There are 30 adults at the party and 12 are women. How many men?", 18, "18 men"),
    (
        "A bag has 40 marbles. 25 are red and the rest are blue. How many are blue?",
        15,
        "15 marbles",
    ),
    ("there are 26 kids on the bus, 14 of them are boys. how many girls?", 12, "12 girls"),
    ("Each van carries 9 people. How many people can 6 vans carry?", 54, "54 people"),
    ("A carton holds 12 eggs. How many eggs fit in 5 cartons?", 60, "60 eggs"),
    ("A table seats 8 guests. How many guests can 15 tables seat?", 120, "120 guests"),
    ("If a box holds 24 crayons, how many crayons do 3 boxes hold?", 72, "72 crayons"),
    ("My quiz score was 27 out of 30. What percent is that?", 90, "90%"),
    ("She made 9 out of 12 free throws. What percent is that?", 75, "75%"),
    ("write 7 out of 20 as a percent", 35, "35%"),
    ("We got 45 points out of 60, what percentage is that?", 75, "75%"),
    ("what percent is 7 out of 28?", 25, "25%"),
    ("A class has 30 kids and 40% of them walk to school. How many walk?", 12, "12"),
    ("I earned $600 and saved 15 percent of it. How many dollars did I save?", 90, "$90"),
    ("Grandma has $80 and gives 25% of it to me, how much do I get?", 20, "$20"),
    ("hey can you help: a $60 game is 20% off, what do I pay?", 48, "$48"),
    ("Sneakers cost $90 and are on sale for 30% off. What is the price now?", 63, "$63"),
    ("A $45 hoodie at 10 percent off. How much do you save?", R(9, 2), "$4.50"),
    ("what is 200 prcent of 15?", 30, "30"),
    ("Find 120 percnet of 50", 60, "60"),
]

STORIES_REFUSED = [
    "In a club of 45 people, 20 are not kids. How many are kids?",
    "There are 24 apples and 15 are red. How many are big?",
    "There are 24 kids and 15 are girls. How many teachers are there?",
    "There are 20 dogs and 25 are brown. How many are not brown?",
    "A bus holds 48 students. How many buses do 96 students need?",
    "A shelf holds 30 books. How many shelves can 4 books hold?",
    "I got 18 out of 24. What percent did I get wrong?",
    "18 out of 24 students passed. What percent failed?",
    "There are 24 kids and 15 are girls. How many boys and girls?",
    "24 boys and 15 are girls. how many boys?",
    "My paycheck is $900 and 20% of it goes to rent. How much is left?",
    "20% of $900 goes to rent, how much is left?",
    "The price is $80 and 25% of it is tax. What is the total?",
    "I have 5 cats and 20% of them are black. I have 3 dogs.",
]


# Geometry as learners write it: typos, a fence around, a triangle's sides, a tank's volume,
# a ladder or cable against a wall or pole, a rectangle's diagonal.
GEOMETRY = [
    ("find the perimiter of a rectangle 7 cm by 4 cm", 22, "22 cm"),
    ("whats the perimetre of a square with side 12 m", 48, "48 m"),
    ("what is the perimiter of a 10 ft by 3 ft rectangle", 26, "26 ft"),
    ("What is the perimeter of a triangle with sides 6 m, 8 m and 11 m?", 25, "25 m"),
    ("triangle sides are 3, 4 and 5. perimeter?", 12, "12"),
    ("An equilateral triangle has sides of 9 cm. Find its perimeter.", 27, "27 cm"),
    (
        "The sides of a triangle measure 2.5 in, 3 in and 4 in. What's the perimeter?",
        R(19, 2),
        "9.5 in",
    ),
    ("My yard is 20 m by 12 m. How much fencing do I need to go all the way around?", 64, "64 m"),
    (
        "A rectangular pool is 25 feet long and 10 feet wide. How much border tile goes around it?",
        70,
        "70 ft",
    ),
    ("How much ribbon to go all the way around a rectangle 30 cm by 20 cm?", 100, "100 cm"),
    (
        "A garden is 6 yards long and 4 yards wide. How many yards of fence go around it?",
        20,
        "20 yd",
    ),
    (
        "An aquarium is 60 cm long, 30 cm wide, 40 cm tall: its volume in cubic centimeters?",
        72000,
        "72000 cm³",
    ),
    (
        "How many cubic feet of sand fill a sandbox 4 ft long, 3 ft wide and 1 ft deep?",
        12,
        "12 ft³",
    ),
    ("Find the volume of a container 10 in long, 5 in wide, 2 in high", 100, "100 in³"),
    ("A crate measures 2 m by 3 m by 1.5 m. What is its volume?", 9, "9 m³"),
    ("A 10-foot ladder reaches 8 feet up a wall. How far is its base from the wall?", 6, "6 ft"),
    (
        "A 25 ft ladder leans on a house, its foot 7 ft from the house. How high does it reach?",
        24,
        "24 ft",
    ),
    (
        "A wire 17 m long runs from a pole top to the ground 8 m from it. How tall is the pole?",
        15,
        "15 m",
    ),
    (
        "A ladder reaches 12 ft up a wall, its foot 5 ft from the wall. How long is the ladder?",
        13,
        "13 ft",
    ),
    (
        "A 15 m rope runs from a tree top to a stake 9 m from its base. How tall is the tree?",
        12,
        "12 m",
    ),
    ("How long is the diagonal of a rectangle 6 in by 8 in?", 10, "10 in"),
    ("A TV screen is 48 inches wide and 36 inches tall. How long is its diagonal?", 60, "60 in"),
    ("right triangle, legs 5 and 12, whats the hypotenuese?", 13, "13"),
    ("diagonal of a square with side 3 cm", 3 * sqrt(2), "3√2 cm (about 4.24)"),
    ("A rectangular field is 40 m long and 9 m wide. Find the diagonal.", 41, "41 m"),
    ("the diagonal of a 5 by 12 rectangle", 13, "13"),
]

GEOMETRY_REFUSED = [
    "A triangle has sides 1 cm, 2 cm and 5 cm. What is the perimeter?",
    "A right triangle has legs 3 and 4. What is its perimeter?",
    "A fence is 20 m long. How much paint do I need?",
    "A 13 ft ladder leans against a wall. How high does it reach?",
    "A 20 ft ladder and a 12 ft wall. How far from the wall is the ladder's foot?",
    "A 26 m cable is tied to a pole 24 m tall. How far from the pole is the stake?",
    "A 5 ft ladder leans on a wall, its foot 13 ft from the wall. How high does it reach?",
    "What is the diagonal of a rectangle 5 cm long?",
    "A rectangle has a perimeter of 20 cm and a length of 6 cm. What is its width?",
    "the diagonal of a rectangle is 10 and its width 6. how long is it?",
    "A box has a volume of 60 and is 3 long and 4 wide. How tall is it?",
    "A tank is 50 cm long and 20 cm wide. What is its volume?",
    "A rectangle is 5 m by 3 m. What is the area and the perimeter?",
]


@pytest.mark.parametrize(
    ("question", "answer", "answer_text"), SCALED + WRAPPED + ASKER + STORIES + GEOMETRY
)
def test_reads_the_problem_exactly(question: str, answer: object, answer_text: str) -> None:
    solution = solve(question)
    assert solution is not None, question
    assert (solution.answer, solution.answer_text) == (answer, answer_text)
    assert solution.steps


@pytest.mark.parametrize(
    "question", SCALED_REFUSED + TALK_REFUSED + STORIES_REFUSED + GEOMETRY_REFUSED
)
def test_refuses_what_it_cannot_read_with_confidence(question: str) -> None:
    assert solve(question) is None
