"""Accommodation formatting, enforced on the answer where the model missed it.

Deterministic and idempotent: dyslexia and ADHD split long sentences at clause boundaries and
put one sentence per list item (bullets for dyslexia, numbers for ADHD); autism replaces idioms
from `data/idioms.json` with literal phrases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache, partial
from pathlib import Path

from aivo.curriculum.readability import grade_band
from aivo.curriculum.sentences import LIST_ITEM, shorten, split_sentences
from aivo.schemas import Accommodation

IDIOMS_FILE = Path(__file__).parent / "data" / "idioms.json"
DYSLEXIA_MAX_WORDS = 12  # sentence cap for dyslexia, below the grade band's own when lower


def apply_accommodations(text: str, accommodations: Iterable[Accommodation], grade: int) -> str:
    needs = set(accommodations)
    if Accommodation.autism in needs:
        text = replace_idioms(text)
    if needs & {Accommodation.adhd, Accommodation.dyslexia}:
        max_words = grade_band(grade).max_sentence_words
        if Accommodation.dyslexia in needs:
            max_words = min(max_words, DYSLEXIA_MAX_WORDS)
        marker = "numbered" if Accommodation.adhd in needs else "bulleted"
        text = chunk_as_list(text, max_words, marker)
    return text


def replace_idioms(text: str) -> str:
    for pattern, literal in _idiom_patterns():
        text = pattern.sub(partial(_match_case, literal), text)
    return text


def chunk_as_list(text: str, max_words: int, marker: str) -> str:
    """One short sentence per list item; blank-line paragraphs become groups of items."""
    groups = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        sentences = [
            short
            for line in paragraph.splitlines()
            if line.strip()
            for sentence in split_sentences(LIST_ITEM.sub("", line))
            for short in shorten(sentence, max_words)
        ]
        groups.append(sentences)
    items = [s for group in groups for s in group]
    if len(items) <= 1:
        return " ".join(items)
    number = 0
    rendered = []
    for group in groups:
        lines = []
        for sentence in group:
            number += 1
            lines.append(f"{number}. {sentence}" if marker == "numbered" else f"- {sentence}")
        rendered.append("\n".join(lines))
    return "\n\n".join(rendered)


def _match_case(literal: str, idiom: re.Match[str]) -> str:
    """`literal`, capitalised when the idiom it replaces was."""
    return literal[:1].upper() + literal[1:] if idiom.group(0)[:1].isupper() else literal


@cache
def _idiom_patterns() -> list[tuple[re.Pattern[str], str]]:
    entries = json.loads(IDIOMS_FILE.read_text(encoding="utf-8"))
    entries.sort(key=lambda e: -len(e["idiom"]))  # "a piece of cake" before "piece of cake"
    return [
        (
            re.compile(r"\b" + r"\s+".join(map(re.escape, e["idiom"].split())) + r"\b", re.I),
            e["literal"],
        )
        for e in entries
    ]
