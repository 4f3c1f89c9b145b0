"""Standards alignment: which catalogue standards a learner's question is about.

Hybrid retrieval: cosine similarity of sentence embeddings (meaning) plus saturated BM25
(exact terms), minus a penalty per grade between the learner and the standard's grade band,
so the learner's own grade wins a near tie. Catalogue vectors are computed once, at
construction; a question costs one small forward pass and a few vector operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aivo.curriculum.catalogue import Catalogue, Standard
from aivo.curriculum.lexical import LexicalIndex
from aivo.embedding import SentenceEmbedder
from aivo.schemas import Subject

SEMANTIC_WEIGHT = 0.75
LEXICAL_WEIGHT = 0.25
GRADE_PENALTY = 0.08  # per grade outside the standard's band, up to MAX_GRADE_DISTANCE
MAX_GRADE_DISTANCE = 4
CROSS_SUBJECT_PENALTY = 0.05
# Subjects whose standards may serve a request: social studies leans on the literacy standards.
SUBJECT_POOLS: dict[Subject, tuple[Subject, ...]] = {
    Subject.math: (Subject.math,),
    Subject.science: (Subject.science,),
    Subject.ela: (Subject.ela,),
    Subject.social_studies: (Subject.social_studies, Subject.ela),
}


@dataclass(frozen=True)
class AlignedStandard:
    standard: Standard
    score: float  # 0..1, higher is closer


def standard_text(standard: Standard) -> str:
    """What a standard is embedded and indexed as."""
    return f"{standard.domain}. {standard.description} {', '.join(standard.keywords)}."


class StandardsAligner:
    def __init__(self, catalogue: Catalogue, embedder: SentenceEmbedder) -> None:
        self._standards = catalogue.standards
        self._embedder = embedder
        texts = [standard_text(s) for s in self._standards]
        self._vectors = embedder.encode_corpus(texts)
        self._lexical = LexicalIndex(texts)
        bands = np.array([s.grades for s in self._standards], dtype=np.float32)
        self._low, self._high = bands[:, 0], bands[:, 1]
        subjects = np.array([s.subject.value for s in self._standards])
        self._pools = {
            subject: [
                (
                    np.flatnonzero(subjects == pool.value),
                    0.0 if pool == subject else CROSS_SUBJECT_PENALTY,
                )
                for pool in pools
            ]
            for subject, pools in SUBJECT_POOLS.items()
        }

    def align(
        self,
        text: str,
        grade: int,
        subject: Subject,
        limit: int,
        vector: np.ndarray | None = None,
    ) -> list[AlignedStandard]:
        """The `limit` best standards for `text` (whose embedding `vector` may be given), best
        first."""
        if limit <= 0:
            return []
        query = self._embedder.encode([text])[0] if vector is None else vector
        semantic = self._vectors @ query
        lexical = self._lexical.saturated_scores(text)
        distance = np.maximum(self._low - grade, 0) + np.maximum(grade - self._high, 0)
        score = (
            SEMANTIC_WEIGHT * semantic
            + LEXICAL_WEIGHT * lexical
            - GRADE_PENALTY * np.minimum(distance, MAX_GRADE_DISTANCE)
        )
        candidates = np.concatenate([rows for rows, _ in self._pools[subject]])
        adjusted = np.concatenate([score[rows] - penalty for rows, penalty in self._pools[subject]])
        best = np.argsort(-adjusted, kind="stable")[:limit]
        return [
            AlignedStandard(self._standards[candidates[i]], float(np.clip(adjusted[i], 0.0, 1.0)))
            for i in best
        ]
