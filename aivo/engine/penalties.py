"""Repetition controls on one row's logits: OpenAI frequency and presence penalties, the CTRL/HF
repetition penalty and the no-repeat n-gram ban, all over the tokens the row generated."""

from __future__ import annotations

from collections import Counter

import torch

from aivo.engine.sampling import SamplingParams


class TokenHistory:
    """A row's generated tokens as its penalties need them, updated once per token (O(1))."""

    def __init__(self, ngram_size: int) -> None:
        self.tokens: list[int] = []
        self.counts: Counter[int] = Counter()
        self._ngram_size = ngram_size
        self._followers: dict[tuple[int, ...], set[int]] = {}  # (n-1)-gram -> tokens seen after

    def add(self, token: int) -> None:
        self.tokens.append(token)
        self.counts[token] += 1
        n = self._ngram_size
        if n and len(self.tokens) >= n:
            self._followers.setdefault(self._prefix(len(self.tokens) - 1), set()).add(token)

    def banned(self) -> list[int]:
        """Tokens that would complete an n-gram this row already generated."""
        n = self._ngram_size
        if not n or len(self.tokens) < n - 1:
            return []
        return sorted(self._followers.get(self._prefix(len(self.tokens)), ()))

    def _prefix(self, end: int) -> tuple[int, ...]:
        return tuple(self.tokens[end - self._ngram_size + 1 : end])


def penalised(logits: torch.Tensor, params: SamplingParams, history: TokenHistory) -> torch.Tensor:
    """One row's logits [vocab] in fp32 with the row's repetition controls applied."""
    logits = logits.float()
    if not history.counts:
        return logits
    logits = logits.clone()
    ids = torch.tensor(list(history.counts), device=logits.device)
    if params.repetition_penalty != 1:
        seen = logits[ids]
        penalty = params.repetition_penalty
        logits[ids] = torch.where(seen > 0, seen / penalty, seen * penalty)
    if params.frequency_penalty or params.presence_penalty:
        counts = torch.tensor(list(history.counts.values()), device=logits.device)
        logits[ids] -= counts * params.frequency_penalty + params.presence_penalty
    banned = history.banned()
    if banned:
        logits[torch.tensor(banned, device=logits.device)] = float("-inf")
    return logits
