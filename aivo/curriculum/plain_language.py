"""Plain language for younger readers: long sentences split, hard words swapped for plain ones.

Applied after generation when an answer reads above its grade's band, for learners up to grade
8 (high-school answers keep their precise words). Words come from `data/plain_words.json`, a
hand-made list that leaves subject terms alone (no "remainder", "equivalent", "significant").
Lines that hold math (digits, operators) are left exactly as they are.
"""

from __future__ import annotations

import json
import re
from functools import cache, partial
from pathlib import Path

from aivo.curriculum.formatting import shorten, split_sentences
from aivo.curriculum.readability import grade_band

PLAIN_WORDS_FILE = Path(__file__).parent / "data" / "plain_words.json"
HIGHEST_GRADE = 8  # above this, precise academic words are part of what is taught
_MATH = re.compile(r"\d|[=+\u00d7\u00f7]")  # digits and math signs
_LIST_ITEM = re.compile(r"^(\s*(?:\d+[.)]|[-*•])\s+)")


def simplify(text: str, grade: int) -> str:
    """`text` in plainer words and shorter sentences for `grade`; unchanged above grade 8."""
    if grade > HIGHEST_GRADE:
        return text
    max_words = grade_band(grade).max_sentence_words
    lines = []
    for line in text.splitlines():
        if not line.strip() or _MATH.search(line):
            lines.append(line)
            continue
        marker = _LIST_ITEM.match(line)
        head = marker.group(1) if marker else ""
        body = plain_words(line[len(head) :])
        sentences = [s for sentence in split_sentences(body) for s in shorten(sentence, max_words)]
        lines.append(head + " ".join(sentences))
    return "\n".join(lines)


def plain_words(text: str) -> str:
    for pattern, plain in _patterns():
        text = pattern.sub(partial(_same_case, plain), text)
    return re.sub(r"\b(But|So|Also|Still),\s", r"\1 ", text)  # "However, x" became "But, x"


def _same_case(plain: str, match: re.Match[str]) -> str:
    return plain[:1].upper() + plain[1:] if match.group(0)[:1].isupper() else plain


@cache
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    entries = json.loads(PLAIN_WORDS_FILE.read_text(encoding="utf-8"))
    ordered = sorted(entries.items(), key=lambda e: -len(e[0]))  # phrases before their words
    return [(re.compile(rf"\b{re.escape(hard)}\b", re.I), plain) for hard, plain in ordered]
