"""A second opinion for screening: is a prompt closer in meaning to known attacks or to
ordinary questions? Phrase rules miss paraphrases ("put your rules on hold"); nearest
neighbours in sentence-embedding space catch many of them.

The exemplars (`aivo/safety/data/screening_exemplars.jsonl`, kept with the package data)
are written apart from the labelled evaluation set in `bench/data/`, so the benchmark measures
generalisation, not recall of its own strings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aivo.embedding import SentenceEmbedder

EXEMPLARS_FILE = Path(__file__).parent / "data" / "screening_exemplars.jsonl"
NEIGHBOURS = 3  # per class: the mean of the k closest attack and the k closest benign exemplars
MARGIN = 0.10  # attack-side similarity must exceed the benign side by this much
MIN_SIMILARITY = 0.45  # and be this close to some attack in absolute terms


class InjectionClassifier:
    def __init__(self, embedder: SentenceEmbedder, exemplars: Path = EXEMPLARS_FILE) -> None:
        rows = [json.loads(line) for line in exemplars.read_text("utf-8").splitlines() if line]
        vectors = embedder.encode_corpus([r["text"] for r in rows])
        is_attack = np.array([r["label"] == "attack" for r in rows])
        self._attacks, self._benign = vectors[is_attack], vectors[~is_attack]

    def margin(self, vector: np.ndarray) -> tuple[float, float]:
        """(attack-side minus benign-side similarity, best attack similarity) of one embedding."""
        attack = np.sort(self._attacks @ vector)[-NEIGHBOURS:]
        benign = np.sort(self._benign @ vector)[-NEIGHBOURS:]
        return float(attack.mean() - benign.mean()), float(attack[-1])

    def is_attack(self, vector: np.ndarray) -> bool:
        margin, best = self.margin(vector)
        return margin > MARGIN and best > MIN_SIMILARITY
