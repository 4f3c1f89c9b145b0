"""Plain language after generation: sentences split only where both sides are whole clauses,
plain words that mean the same, numbers and math never changed, and the measured level."""

from __future__ import annotations

import re

import pytest

from aivo.curriculum.plain_language import level_offset, plain_answer, plain_words, simplify
from aivo.curriculum.readability import MIN_PROSE_WORDS, flesch_kincaid_grade, reading_level
from aivo.curriculum.sentences import shorten, without_repeats


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d[\d,.]*\d|\d", text)


@pytest.mark.parametrize(
    ("sentence", "parts"),
    [
        (
            "The sun warms the water in the sea, and the warm water rises into the air as vapor.",
            ["The sun warms the water in the sea.", "The warm water rises into the air as vapor."],
        ),
        (
            "Plants need light to make their food, but they also need water from the soil.",
            ["Plants need light to make their food.", "But they also need water from the soil."],
        ),
        (
            "The crust is the thin outer layer of the planet, which is made of many kinds of rock.",
            [
                "The crust is the thin outer layer of the planet.",
                "This is made of many kinds of rock.",
            ],
        ),
        (
            "Leaves look green in summer because they hold a lot of a green pigment.",
            ["Leaves look green in summer.", "This is because they hold a lot of a green pigment."],
        ),
        (
            "Rivers gave the farmers water for their crops; the floods left rich soil behind.",
            ["Rivers gave the farmers water for their crops.", "The floods left rich soil behind."],
        ),
    ],
)
def test_a_long_sentence_splits_between_whole_clauses(sentence: str, parts: list[str]) -> None:
    assert shorten(sentence, 8) == parts


@pytest.mark.parametrize(
    "sentence",
    [
        # ", and" closing a list is not a clause boundary
        "The government has three branches: the legislative, the executive, and the judicial.",
        "Oceans are home to sharks, whales, dolphins, and the largest animals on the planet.",
        # "not just X, but also Y" and ", and" before a phrase without a verb stay whole
        "A story is not just about the action on every page, but also about its many characters.",
        "The colonists wanted a voice in their own laws, and the right to govern themselves.",
        # "because of" is not a clause
        "Many farms were built near the river banks in Egypt because of the floods every year.",
    ],
)
def test_a_sentence_without_a_safe_boundary_stays_whole(sentence: str) -> None:
    assert shorten(sentence, 8) == [sentence]


def test_plain_words_keep_articles_and_capitals() -> None:
    assert plain_words("An enormous wave is crucial. Approximately 12 boats") == (
        "A huge wave is key. About 12 boats"
    )
    assert plain_words("However, a numerous crowd") == "But a many crowd"  # the list's own word


def test_subject_terms_are_not_swapped() -> None:
    text = "The remainder is 3, and an equivalent fraction has a common denominator."
    assert plain_words(text) == text


ANSWER = (
    "Photosynthesis is a process that plants utilize to convert light into food in their "
    "leaves, which are green because of the chlorophyll inside them. Approximately 1,200.5 "
    "liters of air pass over a big tree in 24 hours; consequently the tree is able to obtain "
    "the carbon dioxide it requires.\n"
    "1. 7 × 8 = 56, therefore 56 ÷ 8 = 7.\n"
    "2. Subsequently, 2x + 3 = 11 gives x = 4."
)


@pytest.mark.parametrize("grade", [1, 4, 7, 11])
def test_numbers_and_math_are_never_changed(grade: int) -> None:
    plain = simplify(ANSWER, grade)
    assert _numbers(plain) == _numbers(ANSWER)
    math_lines = [line for line in ANSWER.splitlines() if "=" in line]
    assert [line for line in plain.splitlines() if "=" in line] == math_lines


def test_meaning_is_kept_words_only_swapped_and_split() -> None:
    plain = simplify(ANSWER, 4).splitlines()[0]
    assert plain == (
        "Photosynthesis is a process that plants use to change light into food in their "
        "leaves. These are green because of the chlorophyll inside them. About 1,200.5 liters "
        "of air pass over a big tree in 24 hours. So the tree is able to get the carbon "
        "dioxide it needs."
    )
    assert flesch_kincaid_grade(plain) < flesch_kincaid_grade(ANSWER.splitlines()[0]) - 3


def test_high_school_answers_keep_their_words_and_lose_only_long_sentences() -> None:
    original = ANSWER.splitlines()[0]
    plain = simplify(original, 11)
    assert plain.count(".") > original.count(".")
    assert [w for w in _words(plain) if w not in ("which", "these")] == [
        w for w in _words(original) if w not in ("which", "these")
    ]


def test_an_answer_within_its_band_is_left_alone() -> None:
    easy = "The cat sat on the mat, and the dog ran in the yard."
    assert plain_answer(easy, 3) == easy
    assert level_offset(easy, 3) == 0.0
    assert level_offset(ANSWER.splitlines()[0], 1) > 1  # made plain, still above grade 1


def test_short_text_is_too_short_to_measure_and_says_so() -> None:
    short = "1. 7 × 8 = 56.\nSo the answer is 56."
    level = reading_level(short, 10)
    assert level.within_band is None and level.prose_words < MIN_PROSE_WORDS
    long = " ".join(["The cat sat on the mat and looked at the bird."] * 5)
    measured = reading_level(long, 1)
    assert measured.prose_words >= MIN_PROSE_WORDS and measured.within_band is True
    assert reading_level(long, 10).within_band is False  # far easier than grade 10's band


def test_a_sentence_said_twice_is_said_once() -> None:
    text = (
        "Yes, 4 is correct.\n"
        "Multiply and divide from left to right. 12 ÷ 3 = 4.\n"
        "- Multiply and divide from LEFT to right!\n"
        "Yes. Yes. Good work.\n"
        "38 + 45 = ?\n"
        "38 - 45 = ?\n"
        "\n"
        "The answer is 4. The answer is 4.\n"
        "38 + 45 = ?"
    )
    assert without_repeats(text) == (
        "Yes, 4 is correct.\n"
        "Multiply and divide from left to right. 12 ÷ 3 = 4.\n"
        "Yes. Yes. Good work.\n"
        "38 + 45 = ?\n"
        "38 - 45 = ?\n"
        "\n"
        "The answer is 4."
    )
    assert without_repeats(without_repeats(text)) == without_repeats(text)
