"""Reading-level targets per grade band, and the Flesch-Kincaid grade of an answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypedDict

from textstat.textstat import textstatistics

from aivo.curriculum.sentences import LIST_ITEM
from aivo.schemas import ReadingLevel


@dataclass(frozen=True)
class GradeBand:
    name: str
    lowest: int
    highest: int
    max_sentence_words: int
    vocabulary: str


GRADE_BANDS = (
    GradeBand("K-2", 0, 2, 8, "very simple everyday words"),
    GradeBand("3-5", 3, 5, 12, "everyday words; explain any new word"),
    GradeBand("6-8", 6, 8, 16, "clear words; define subject terms when first used"),
    GradeBand("9-12", 9, 12, 20, "precise academic words, defined when first used"),
)
# Dale-Chall's 2,940 words that most fourth graders know (textstat's copy of the list)
EASY_WORDS_FILE = Path(__file__).parent / "data" / "easy_words.txt"
# Steering while the model writes (`aivo/engine/steering.py`), toward the middle of the band:
# logits taken from a hard word's opening token per point of difficulty, strongest in
# kindergarten, and the sentence length past which ending the sentence is favoured over joining
# another clause. Set on 116 explanations at grades K-12 (52 written for this, the bench's 51
# and 13 of its leak probes; in process, bundled model): answers with 50+ words of prose in their
# band rose from 26 of 81 unsteered to 66 of 81.
PLAIN_WORDS_AT_K, PLAIN_WORDS_PER_GRADE, PLAIN_WORDS_LEAST = 8.0, 0.6, 3.0
SENTENCE_WORDS_AT_K, SENTENCE_WORDS_PER_GRADE = 4, 1.5
BELOW_GRADE = 2.0  # an answer up to two grades easier than the learner's grade is on target
ABOVE_GRADE = 1.0

# textstat 0.7.13 fetches NLTK's cmudict over the network for "en_US"; "en-US" makes it count
# syllables with pyphen (bundled, offline), its own fallback for words cmudict lacks.
_TEXTSTAT = textstatistics()
_TEXTSTAT.set_lang("en-US")
_MARKUP = re.compile(r"[#*_`>]+")
_MATH_TOKEN = re.compile(r"\d|[=+\u00d7\u00f7^\u221a<>]")  # digits and math signs
MATH_SHARE = 0.4  # a sentence with this share of math tokens is notation, not prose
# FK is a mean over a sample (Flesch used 100 words). On the bundled model's answers a window's
# FK strays from its whole answer's by 2.8 grades (SD) at 10 words, 1.8 at 40, 1.3 at 60: below
# 50 words of prose it cannot place an answer in a 3-grade band, so none is claimed.
MIN_PROSE_WORDS = 50


def grade_band(grade: int) -> GradeBand:
    return next(b for b in GRADE_BANDS if b.lowest <= grade <= b.highest)


class ReadingSteer(TypedDict):
    """A row's steering settings (`SamplingParams` fields)."""

    plain_words: float
    sentence_words: int
    reading_target: float


def reading_steer(grade: int) -> ReadingSteer:
    """The sampling settings that steer an answer for `grade` toward the middle of its band."""
    low, high = target_band(grade)
    return {
        "plain_words": plain_words_strength(grade),
        "sentence_words": sentence_words(grade),
        "reading_target": (low + high) / 2,
    }


def plain_words_strength(grade: int) -> float:
    """How strongly to steer an answer for `grade` (K is 0) away from hard words."""
    return max(PLAIN_WORDS_LEAST, PLAIN_WORDS_AT_K - PLAIN_WORDS_PER_GRADE * grade)


def sentence_words(grade: int) -> int:
    """The sentence length past which an answer for `grade` is steered to end its sentence."""
    return int(SENTENCE_WORDS_AT_K + SENTENCE_WORDS_PER_GRADE * grade)


def word_difficulty(word: str) -> float:
    """0 for a word most fourth graders know; else its syllables past the first, at least 1."""
    word = word.lower()
    if word in _easy_words():
        return 0.0
    return float(max(1, _TEXTSTAT.syllable_count(word) - 1))


@cache
def _easy_words() -> frozenset[str]:
    return frozenset(EASY_WORDS_FILE.read_text(encoding="utf-8").split())


def target_band(grade: int) -> tuple[float, float]:
    """The Flesch-Kincaid grades an answer for `grade` (K is 0) should fall in."""
    return max(0.0, grade - BELOW_GRADE), grade + ABOVE_GRADE


def flesch_kincaid_grade(text: str) -> float:
    """FK grade of `text`'s prose, list items and markdown read as plain sentences.

    FK is defined for prose: a sentence that is mostly math notation ("2x = 8", "80 * 15 / 100
    = 12") has no words to measure, so it is left out, unless the text has nothing else.
    """
    prose = _prose(text)
    return float(_TEXTSTAT.flesch_kincaid_grade(" ".join(prose))) if prose else 0.0


def prose_words(text: str) -> int:
    """Words in `text`'s prose sentences (what FK measures when there is enough of it)."""
    return sum(len(s.split()) for s in _prose(text) if not _mostly_math(s))


def _prose(text: str) -> list[str]:
    lines = [_MARKUP.sub("", LIST_ITEM.sub("", line)).strip() for line in text.splitlines()]
    # A list item without a full stop is still a sentence of its own.
    sentences = [line if line[-1] in ".!?:;" else f"{line}." for line in lines if line]
    return [s for s in sentences if not _mostly_math(s)] or sentences


def _mostly_math(sentence: str) -> bool:
    tokens = sentence.split()
    math = sum(1 for t in tokens if _MATH_TOKEN.search(t))
    return math >= MATH_SHARE * len(tokens)


def reading_level(text: str, grade: int) -> ReadingLevel:
    """The measured FK grade, always; whether it is within the band only for an answer with
    MIN_PROSE_WORDS of prose (a shorter one, like most worked solutions, is not measurable)."""
    low, high = target_band(grade)
    fk = round(flesch_kincaid_grade(text), 1)
    words = prose_words(text)
    # FK goes below zero for very short words and sentences: that is still "easy enough".
    within = low <= max(fk, 0.0) <= high if words >= MIN_PROSE_WORDS else None
    return ReadingLevel(
        flesch_kincaid_grade=fk, target_band=(low, high), within_band=within, prose_words=words
    )
