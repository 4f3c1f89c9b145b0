"""Vetted explanations of core K-12 topics ("key ideas"), and which one a question asks about.

The bundled model states wrong science, history and grammar with confidence. For a question
whose topic the library holds, the answer is the library's explanation written for the learner's
grade band (an explanation), or the topic's nudge that does not state it (a hint): vetted text,
not the model's, since nothing the model added could be checked as that text was. The text also
goes into the model's notes, which is all the model gets where it does write: checking a
learner's answer, a topic the conversation already had explained (said another way), and a
student with their own adapter (the service lets the adapter answer, from the notes).

Matching is hybrid, within the request's subject: the question's embedding (already computed
for screening) against each idea's phrasings and texts, and its words against theirs (BM25). The
best idea must score at least MIN_SCORE and lead the next idea by MIN_MARGIN, else none is used:
a wrong topic's explanation is worse than none. Weights and both bounds are set on the dev half
of the labelled questions in `bench/data/key_ideas_labelled.jsonl` (`python -m bench.key_ideas`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aivo.curriculum.lexical import LexicalIndex
from aivo.curriculum.prompting import FACTS_LABEL, HINT_LABEL
from aivo.curriculum.readability import flesch_kincaid_grade, grade_band, target_band
from aivo.curriculum.sentences import split_sentences
from aivo.schemas import Subject, TutoringMode

if TYPE_CHECKING:
    from aivo.embedding import SentenceEmbedder

KEY_IDEAS_FILE = Path(__file__).parent / "data" / "key_ideas.jsonl"
BANDS = ("K-2", "3-5", "6-8", "9-12")
FIELDS = ("id", "subject", "topic", "questions", *BANDS, "hint")
# A question's score for an idea: its embedding's cosine with the closest of the idea's
# phrasings and with the closest of its texts, plus its saturated BM25 over all of them.
PHRASING_WEIGHT = 0.5
TEXT_WEIGHT = 0.5
LEXICAL_WEIGHT = 0.3
MIN_SCORE = 0.75
MIN_MARGIN = 0.04
VETTED_MODEL = "aivo-key-ideas"  # the response's model for an answer of vetted text
# A request to make something up on a topic ("write a story about volcanoes") is not a question
# its explanation answers.
_MADE_UP = re.compile(
    r"\b(?:write|tell|make up|compose|create|sing)\b[^.?!]{0,40}?"
    r"\b(?:story|stories|poem|song|joke|riddle|rap|limerick|haiku)\b",
    re.I,
)


class KeyIdeaError(ValueError):
    """A key-idea file that cannot be loaded; the message names the file and line."""


@dataclass(frozen=True)
class KeyIdea:
    id: str
    subject: Subject
    topic: str
    questions: tuple[str, ...]  # ways a learner asks about it: what questions are matched to
    texts: dict[str, str]  # the explanation per grade band
    hint: str  # a nudge toward the idea that does not state it
    levels: dict[str, float]  # each text's Flesch-Kincaid grade

    def text_for(self, grade: int) -> str:
        """The text whose reading level is nearest the learner's target band, the closest
        band's to the learner's own on a tie (a band's text cannot fit each of its grades)."""
        low, high = target_band(grade)
        own = BANDS.index(grade_band(grade).name)

        def distance(i: int) -> tuple[float, int]:
            level = max(self.levels[BANDS[i]], 0.0)
            return max(low - level, level - high, 0.0), abs(i - own)

        return self.texts[BANDS[min(range(len(BANDS)), key=distance)]]


@dataclass(frozen=True)
class Grounding:
    """What a question on a key idea's topic is answered from."""

    idea: str  # the key idea's id
    answer: str  # the vetted text that is the answer (nothing: the model writes, from `material`)
    material: tuple[str, ...] = ()  # lines for the model's notes


@cache
def library_digest(path: Path = KEY_IDEAS_FILE) -> str:
    """The library's content in a few characters: a corrected text must not meet cached answers."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


class KeyIdeaLibrary:
    def __init__(self, ideas: Sequence[KeyIdea], embedder: SentenceEmbedder) -> None:
        self.ideas = tuple(ideas)
        phrasings = [
            (i, q) for i, idea in enumerate(self.ideas) for q in (idea.topic, *idea.questions)
        ]
        self._owner = np.array([i for i, _ in phrasings], dtype=np.int64)
        self._phrasings = embedder.encode_corpus([q for _, q in phrasings])
        texts = [idea.texts[band] for idea in self.ideas for band in BANDS]
        self._texts = embedder.encode_corpus(texts).reshape(len(self.ideas), len(BANDS), -1)
        self._lexical = LexicalIndex(
            [" ".join([idea.topic, *idea.questions, *idea.texts.values()]) for idea in self.ideas]
        )
        self._subjects = np.array([idea.subject.value for idea in self.ideas])

    def match(
        self, question: str, vector: np.ndarray, subject: Subject
    ) -> tuple[KeyIdea, float] | None:
        """The idea a question (its text and embedding) asks about, and its score; None if no
        idea of its subject is both close enough and clearly closer than any other."""
        phrasing = np.full(len(self.ideas), -1.0)
        np.maximum.at(phrasing, self._owner, self._phrasings @ vector)
        text = (self._texts @ vector).max(axis=1)
        lexical = self._lexical.saturated_scores(question)
        score = PHRASING_WEIGHT * phrasing + TEXT_WEIGHT * text + LEXICAL_WEIGHT * lexical
        score = np.where(self._subjects == subject.value, score, -np.inf)
        order = np.argsort(-score, kind="stable")
        best = float(score[order[0]])
        runner_up = float(score[order[1]]) if len(order) > 1 else -np.inf
        if best < MIN_SCORE or best - runner_up < MIN_MARGIN:
            return None
        return self.ideas[order[0]], best

    def ground(
        self,
        mode: TutoringMode,
        question: str,
        vector: np.ndarray,
        subject: Subject,
        grade: int,
        explained: Sequence[str] = (),
    ) -> Grounding | None:
        """What to answer a question from; `explained`: the tutor's earlier turns."""
        if _MADE_UP.search(question):
            return None
        matched = self.match(question, vector, subject)
        if matched is None:
            return None
        idea = matched[0]
        text = idea.text_for(grade)
        opening = split_sentences(text)[0]  # a turn as the learner got it may be reformatted
        said = any(opening in turn for turn in explained)
        if mode == TutoringMode.hint:  # the notes too: for a student's own adapter to write from
            return Grounding(idea.id, idea.hint, (f"{HINT_LABEL} {idea.hint}",))
        facts = (f"{FACTS_LABEL} {text}",)
        if mode == TutoringMode.check or said:
            return Grounding(idea.id, "", facts)
        return Grounding(idea.id, text, facts)


def load_key_ideas(path: Path = KEY_IDEAS_FILE) -> list[KeyIdea]:
    """Every idea in the file; KeyIdeaError for a malformed line or an id seen twice."""
    ideas: dict[str, KeyIdea] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("a line must be a JSON object")
            idea = _parse(row)
        except (ValueError, TypeError, KeyError) as error:
            raise KeyIdeaError(f"{path.name} line {number}: {error}") from None
        if idea.id in ideas:
            raise KeyIdeaError(f"{path.name} line {number}: {idea.id} is there twice")
        ideas[idea.id] = idea
    return list(ideas.values())


def _parse(row: dict[str, object]) -> KeyIdea:
    missing = [f for f in FIELDS if not row.get(f)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    questions = row["questions"]
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        raise ValueError("questions must be a list of strings")
    texts = {band: str(row[band]).strip() for band in BANDS}
    return KeyIdea(
        str(row["id"]),
        Subject(str(row["subject"])),
        str(row["topic"]),
        tuple(questions),
        texts,
        str(row["hint"]).strip(),
        {band: flesch_kincaid_grade(text) for band, text in texts.items()},
    )
