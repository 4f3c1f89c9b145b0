"""BM25 over the words of the standards and key ideas: catches exact terms (`Punnett`,
`semicolon`, `SAS`) that a small sentence-embedding model blurs."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "help",
        "please",
        "explain",
        "find",
        "tell",
        "show",
        "get",
        "give",
        "make",
        "use",
        "using",
    }
)
K1, B = 1.2, 0.75
HALF_MATCH = 6.0  # the BM25 score that counts as half a lexical match


def terms(text: str) -> list[str]:
    """Lower-cased content words with a light suffix stem, so `fractions` meets `fraction`."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def _stem(word: str) -> str:
    word = word.removesuffix("'s")
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


class LexicalIndex:
    def __init__(self, documents: Sequence[str]) -> None:
        counts = [Counter(terms(d)) for d in documents]
        lengths = np.array([sum(c.values()) for c in counts], dtype=np.float32)
        self._size = len(counts)
        self._norm = K1 * (1 - B + B * lengths / max(float(lengths.mean()), 1e-9))
        postings: dict[str, list[tuple[int, int]]] = {}
        for row, count in enumerate(counts):
            for term, tf in count.items():
                postings.setdefault(term, []).append((row, tf))
        self._postings = {
            term: (np.array([r for r, _ in rows]), np.array([tf for _, tf in rows], np.float32))
            for term, rows in postings.items()
        }

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for `query` (0 where no term is shared)."""
        out = np.zeros(self._size, dtype=np.float32)
        for term in set(terms(query)):
            if term not in self._postings:
                continue
            rows, tf = self._postings[term]
            idf = math.log(1 + (self._size - len(rows) + 0.5) / (len(rows) + 0.5))
            out[rows] += idf * tf * (K1 + 1) / (tf + self._norm[rows])
        return out

    def saturated_scores(self, query: str) -> np.ndarray:
        """Every document's BM25 score for `query` saturated into 0..1 (HALF_MATCH is 0.5)."""
        bm25 = self.scores(query)
        return bm25 / (bm25 + HALF_MATCH)
