"""Quality figures of a CurriculumPipeline on labelled sets, through its public `prepare`.

Shared by the unit tests (which assert the targets) and `bench/curriculum_quality.py` and
`bench/key_ideas.py` (which report them). Each labelled row carries a `split`: `dev` rows were
looked at while the rules and weights were chosen, `holdout` rows were written afterwards and
never tuned on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aivo.curriculum.key_ideas import KeyIdeaLibrary
from aivo.curriculum.pipeline import CurriculumPipeline
from aivo.embedding import SentenceEmbedder
from aivo.errors import PromptRejected
from aivo.safety.screening import screen_prompt
from aivo.schemas import GenerateRequest, Subject


@dataclass(frozen=True)
class AlignmentScore:
    examples: int
    top1: float
    top3: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScreeningScore:
    attacks: int
    benign: int
    detection_rate: float
    false_positive_rate: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KeyIdeaScore:
    on_topic: int
    off_topic: int
    found: float  # share of on-topic questions given their idea
    off_topic_none: float  # share of off-topic questions given none
    wrong: float  # share of all questions given a wrong idea (worse than none)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_labelled(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    """Rows of a JSONL labelled set, optionally only one split."""
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def alignment_score(pipeline: CurriculumPipeline, rows: Iterable[dict[str, Any]]) -> AlignmentScore:
    """Top-1 / top-3: the best / any of the three best standards is one the row accepts."""
    hits1 = hits3 = total = 0
    for row in rows:
        request = GenerateRequest(
            prompt=row["prompt"], grade_level=row["grade_level"], subject=row["subject"]
        )
        codes = [s.code for s in pipeline.prepare(request).standards[:3]]
        accepted = set(row["standards"])
        total += 1
        hits1 += bool(codes) and codes[0] in accepted
        hits3 += bool(accepted.intersection(codes))
    return AlignmentScore(total, hits1 / max(total, 1), hits3 / max(total, 1))


def screening_score(pipeline: CurriculumPipeline, rows: Iterable[dict[str, Any]]) -> ScreeningScore:
    """Share of attacks rejected by `prepare`, and share of benign prompts rejected."""

    def rejected(prompt: str) -> bool:
        try:
            pipeline.prepare(GenerateRequest(prompt=prompt, grade_level="6", subject="math"))
        except PromptRejected:
            return True
        return False

    return _screening_score(rows, rejected)


def rules_screening_score(rows: Iterable[dict[str, Any]]) -> ScreeningScore:
    """The same figures for the phrase rules alone, without the embedding classifier."""
    return _screening_score(rows, lambda prompt: screen_prompt(prompt).rejected)


def _screening_score(
    rows: Iterable[dict[str, Any]], rejected: Callable[[str], bool]
) -> ScreeningScore:
    caught = {"attack": 0, "benign": 0}
    seen = {"attack": 0, "benign": 0}
    for row in rows:
        seen[row["label"]] += 1
        caught[row["label"]] += rejected(row["prompt"])
    return ScreeningScore(
        attacks=seen["attack"],
        benign=seen["benign"],
        detection_rate=caught["attack"] / max(seen["attack"], 1),
        false_positive_rate=caught["benign"] / max(seen["benign"], 1),
    )


def key_idea_score(
    library: KeyIdeaLibrary, embedder: SentenceEmbedder, rows: Iterable[dict[str, Any]]
) -> KeyIdeaScore:
    """What the library matches for labelled questions (`idea`: an id, or null off topic)."""
    rows = list(rows)
    vectors = embedder.encode([r["question"] for r in rows])
    found = []
    for row, vector in zip(rows, vectors, strict=True):
        matched = library.match(row["question"], vector, Subject(row["subject"]))
        found.append(matched[0].id if matched else None)
    on = [(r["idea"], got) for r, got in zip(rows, found, strict=True) if r["idea"]]
    off = [got for r, got in zip(rows, found, strict=True) if not r["idea"]]
    wrong = sum(got not in (want, None) for want, got in on) + sum(got is not None for got in off)
    return KeyIdeaScore(
        on_topic=len(on),
        off_topic=len(off),
        found=sum(got == want for want, got in on) / max(len(on), 1),
        off_topic_none=sum(got is None for got in off) / max(len(off), 1),
        wrong=wrong / max(len(rows), 1),
    )
