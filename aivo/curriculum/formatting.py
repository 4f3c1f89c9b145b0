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
from aivo.schemas import Accommodation

IDIOMS_FILE = Path(__file__).parent / "data" / "idioms.json"
DYSLEXIA_MAX_WORDS = 12  # sentence cap for dyslexia, below the grade band's own when lower
_ABBREVIATIONS = ("e.g.", "i.e.", "mr.", "mrs.", "ms.", "dr.", "vs.", "etc.", "st.", "no.")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
# Clause boundaries a sentence may be split at, best first; the cue is what starts the new one.
_CLAUSE_BREAKS = (
    (re.compile(r";\s+"), ""),
    (re.compile(r",\s+and then\s+", re.I), "then "),
    (re.compile(r",\s+and\s+", re.I), ""),
    (re.compile(r",\s+but\s+", re.I), "but "),
    (re.compile(r",\s+so\s+", re.I), "so "),
    (re.compile(r",?\s+because\s+", re.I), "this is because "),
)


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
            for sentence in split_sentences(_LIST_ITEM.sub("", line))
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


def split_sentences(text: str) -> list[str]:
    protected = text
    for abbreviation in _ABBREVIATIONS:
        protected = re.sub(
            rf"\b{re.escape(abbreviation)}",
            lambda m: m.group(0).replace(".", "\0"),
            protected,
            flags=re.I,
        )
    return [s.replace("\0", ".").strip() for s in _SENTENCE_END.split(protected) if s.strip()]


def shorten(sentence: str, max_words: int) -> list[str]:
    """`sentence` split at clause boundaries until each part has at most `max_words` words."""
    if len(sentence.split()) <= max_words:
        return [sentence]
    for pattern, cue in _CLAUSE_BREAKS:
        cuts = [m for m in pattern.finditer(sentence) if _words_before(sentence, m) >= 3]
        if not cuts:
            continue
        middle = len(sentence) / 2
        cut = min(cuts, key=lambda m: abs(m.start() - middle))
        head, tail = sentence[: cut.start()], cue + sentence[cut.end() :]
        return shorten(_as_sentence(head), max_words) + shorten(_as_sentence(tail), max_words)
    return [sentence]


def _words_before(sentence: str, match: re.Match[str]) -> int:
    return min(len(sentence[: match.start()].split()), len(sentence[match.end() :].split()))


def _as_sentence(text: str) -> str:
    text = text.strip().rstrip(",;")
    text = text[:1].upper() + text[1:]
    return text if text[-1:] in ".!?:" else f"{text}."


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
