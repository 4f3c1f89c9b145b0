"""Sentences: where one ends, and where a long one may be split without changing what it says.

A sentence is split only at a clause boundary whose two sides are whole clauses: a semicolon;
", and/but/so/yet" when a new subject and its verb follow (so "apples, pears, and plums" and
"not only X, but also Y" stay whole); ", which" when its verb shows what "which" stands for;
"because". Words are never dropped or changed, only the joining word becomes a sentence opener
("but", "so", "this is because"), and numbers are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_ABBREVIATIONS = ("e.g.", "i.e.", "mr.", "mrs.", "ms.", "dr.", "vs.", "etc.", "st.", "no.")
# a sentence's end, closing quotes and brackets included, then the space before the next one
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(\s+)(?=[\"'(\[]?[A-Z0-9])")
_SUBJECTS = (
    "i|you|we|they|he|she|it|this|that|these|those|there|the|a|an|its|their|our|your|his|her|"
    "my|some|many|most|each|every|all|both|people|plants|animals"
)
_VERBS = (
    "is|are|was|were|has|have|had|do|does|did|can|could|will|would|may|might|must|should|"
    "makes?|made|helps?|gives?|gave|takes?|took|gets?|got|needs?|uses?|moves?|turns?|becomes?|"
    "became|comes?|came|goes|go|went|keeps?|kept|shows?|means?|lets?|stays?|grows?|grew|looks?|"
    "works?|changes?|falls?|fell|holds?|held|rises?|rose|flows?|forms?|starts?|ends?|lives?|"
    "eats?|ate|heats?|cools?|melts?|freezes?|froze|pulls?|pushes|push|spins?|covers?|carries|"
    "carry|breaks?|broke|builds?|built|sends?|sent|finds?|found|sees?|saw|feels?|felt|knows?|"
    "knew|thinks?|thought|says?|said|tells?|told|wants?|likes?|left|brings?|brought|leads?|led"
)
# A new clause: a subject, then a verb within the next four words ("and the warm air rises").
_CLAUSE = re.compile(
    rf"(?:(?:i|you|we|they|he|she|it|there)\b|(?:{_SUBJECTS})\b(?:\s+\S+){{0,3}}?\s+(?:{_VERBS})\b)",
    re.I,
)
_JOINED = re.compile(r",\s+(and then|and|but|so|yet)\s+", re.I)
_WHICH = re.compile(r",\s+which\s+(?=(\w+))", re.I)
_PLURAL_VERBS = {"are", "were", "have", "do"}
_SINGULAR_VERBS = {"is", "was", "has", "does", "can", "could", "will", "would", "may", "might"}
MIN_SIDE_WORDS = 3  # neither side of a split may be shorter than this
REPEAT_WORDS = 4  # a sentence this long said a second time is a repeat, not an echo ("Yes.")
_SAID = re.compile(r"\w+|[-=+\u00d7\u00f7*/^\u221a<>%$]")
LIST_ITEM = re.compile(r"^(\s*(?:\d+[.)]|[-*•])\s+)")  # "1. ", "2) ", "- ", "• " opening a line


def split_sentences(text: str) -> list[str]:
    protected = text
    for abbreviation in _ABBREVIATIONS:
        protected = re.sub(
            rf"\b{re.escape(abbreviation)}",
            lambda m: m.group(0).replace(".", "\0"),
            protected,
            flags=re.I,
        )
    sentences, start = [], 0
    for end in _SENTENCE_END.finditer(protected):
        sentences.append(protected[start : end.start(1)])
        start = end.end(1)
    sentences.append(protected[start:])
    return [s.replace("\0", ".").strip() for s in sentences if s.strip()]


def without_repeats(text: str) -> str:
    """`text` without a sentence of REPEAT_WORDS+ words that it already said (the same words and
    math signs, in any case and punctuation: "38 + 45 = ?" twice, not "38 - 45 = ?" after it); a
    line left with nothing is left out."""
    said: set[tuple[str, ...]] = set()

    def first_time(sentence: str) -> list[str]:
        said_as = tuple(_SAID.findall(sentence.lower()))  # words and math signs, in order
        if len(sentence.split()) >= REPEAT_WORDS and said_as in said:
            return []
        said.add(said_as)
        return [sentence]

    return rewrite_sentences(text, first_time)


def rewrite_sentences(text: str, rewrite: Callable[[str], list[str]]) -> str:
    """`text` with each sentence replaced by what `rewrite` makes of it, line by line, list
    markers kept; a line whose sentences all went is left out."""
    lines = []
    for line in text.splitlines():
        marker = LIST_ITEM.match(line)
        head = marker.group(1) if marker else ""
        sentences = [new for old in split_sentences(line[len(head) :]) for new in rewrite(old)]
        if sentences or not line.strip():
            lines.append(head + " ".join(sentences) if sentences else line)
    return "\n".join(lines)


def shorten(sentence: str, max_words: int) -> list[str]:
    """`sentence` split at clause boundaries until each part has at most `max_words` words
    (a part with no safe boundary stays as long as it is)."""
    if len(sentence.split()) <= max_words:
        return [sentence]
    cuts = [cut for cut in _cuts(sentence) if _sides(sentence, cut[0], cut[1]) >= MIN_SIDE_WORDS]
    if not cuts:
        return [sentence]
    middle = len(sentence) / 2
    start, end, cue = min(cuts, key=lambda c: abs(c[0] - middle))
    head, tail = sentence[:start], cue + sentence[end:]
    return shorten(_as_sentence(head), max_words) + shorten(_as_sentence(tail), max_words)


def _cuts(sentence: str) -> list[tuple[int, int, str]]:
    """Safe split points: (start, end, the opener that replaces sentence[start:end])."""
    cuts = [(m.start(), m.end(), "") for m in re.finditer(r";\s+", sentence)]
    for m in _JOINED.finditer(sentence):
        if _CLAUSE.match(sentence, m.end()) and not _ends_list_item(sentence[: m.start()]):
            joiner = m.group(1).lower()
            cuts.append((m.start(), m.end(), "" if joiner == "and" else f"{joiner} "))
    for m in _WHICH.finditer(sentence):
        verb = m.group(1).lower()
        if verb in _PLURAL_VERBS or verb in _SINGULAR_VERBS:
            cuts.append((m.start(), m.end(), "these " if verb in _PLURAL_VERBS else "this "))
    cuts += [
        (m.start(), m.end(), "this is because ")
        for m in re.finditer(r",?\s+because\s+(?!of\b)", sentence, re.I)
    ]
    return cuts


def _ends_list_item(head: str) -> bool:
    """Whether `head` ends with a short item after a comma ("red, blue" in "red, blue, and
    green"): then ", and" closes a list, not a clause."""
    if "," not in head:
        return False
    return len(head.rsplit(",", 1)[1].split()) <= 3


def _sides(sentence: str, start: int, end: int) -> int:
    return min(len(sentence[:start].split()), len(sentence[end:].split()))


def _as_sentence(text: str) -> str:
    text = text.strip().rstrip(",;")
    text = text[:1].upper() + text[1:]
    return text if text[-1:] in ".!?:" else f"{text}."
