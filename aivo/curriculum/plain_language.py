"""Plain language: long sentences split at safe clause boundaries, hard words made plain.

Applied after generation when an answer reads above its grade's band. Sentences are split for
every grade (a long sentence is hard at any age); words are swapped only up to grade 8 (above,
precise academic words are part of what is taught). Words come from `data/plain_words.json`, a
hand-made list that leaves subject terms alone (no "remainder", "equivalent", "significant"),
and only where the plain word means the same in any sentence. A sentence that holds math signs
is left exactly as it is; elsewhere numbers are never touched (no entry holds a digit, and
sentences are split only between words).
"""

from __future__ import annotations

import json
import re
from functools import cache, partial
from pathlib import Path

from aivo.curriculum.readability import flesch_kincaid_grade, grade_band, target_band
from aivo.curriculum.sentences import rewrite_sentences, shorten

PLAIN_WORDS_FILE = Path(__file__).parent / "data" / "plain_words.json"
PLAIN_WORDS_UP_TO = 8  # above this grade, precise academic words are part of what is taught
_MATH = re.compile(r"[=+\u00d7\u00f7^\u221a<>]|\d\s*[-*/]\s*\d")  # math signs, "3 - 1", "6/8"


def plain_answer(text: str, grade: int) -> str:
    """`text` as a learner of `grade` gets it: made plain when it reads above the band."""
    return simplify(text, grade) if flesch_kincaid_grade(text) > target_band(grade)[1] else text


def level_offset(text: str, grade: int) -> float:
    """Grades that `text`, as the learner gets it, reads above (> 0) or below (< 0) the band."""
    low, high = target_band(grade)
    level = max(flesch_kincaid_grade(plain_answer(text, grade)), 0.0)
    return level - high if level > high else min(level - low, 0.0)


def simplify(text: str, grade: int) -> str:
    """`text` in shorter sentences for `grade`, and up to grade 8 in plainer words."""
    words = grade <= PLAIN_WORDS_UP_TO
    max_words = grade_band(grade).max_sentence_words
    return rewrite_sentences(text, partial(_plain_sentence, max_words=max_words, words=words))


def _plain_sentence(sentence: str, max_words: int, *, words: bool) -> list[str]:
    if _MATH.search(sentence):
        return [sentence]
    return shorten(plain_words(sentence) if words else sentence, max_words)


def plain_words(text: str) -> str:
    for pattern, plain in _patterns():
        text = pattern.sub(partial(_same_case, plain), text)
    return re.sub(r"\b(But|So|Also|Still),\s", r"\1 ", text)  # "However, x" became "But, x"


def _same_case(plain: str, match: re.Match[str]) -> str:
    """`plain` for the matched word, capitalised like it, with its article made to fit
    ("an enormous" becomes "a huge")."""
    article, hard = match.group(1), match.group(2)
    word = plain[:1].upper() + plain[1:] if hard[:1].isupper() else plain
    if not article:
        return word
    fitting = "an" if word[:1].lower() in "aeiou" else "a"
    fitting = fitting.capitalize() if article[:1].isupper() else fitting
    return f"{fitting}{article[len(article.rstrip()) :]}{word}"


@cache
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    entries = json.loads(PLAIN_WORDS_FILE.read_text(encoding="utf-8"))
    ordered = sorted(entries.items(), key=lambda e: -len(e[0]))  # phrases before their words
    return [
        (re.compile(rf"(\ban?\s+)?\b({re.escape(hard)})\b", re.I), plain) for hard, plain in ordered
    ]
