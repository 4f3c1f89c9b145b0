"""The next token of each row: greedy at temperature 0, else drawn from the row's top-p nucleus
with the row's own generator."""

from __future__ import annotations

import torch

from aivo.engine.sampling import SamplingParams


def pick_token(
    logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None
) -> int:
    """One token id from one row's processed logits [vocab]."""
    if not params.samples:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / params.temperature, dim=-1)
    if params.top_p < 1:
        # the nucleus: the most likely tokens until their mass reaches top_p; the first is always
        # kept (a top_p below float32's smallest value compares as 0 with the first's mass 0)
        sorted_probs, order = probs.sort(descending=True)
        outside = sorted_probs.cumsum(dim=-1) - sorted_probs >= params.top_p
        outside[0] = False
        probs = probs.scatter(0, order, sorted_probs.masked_fill(outside, 0.0))
    return int(torch.multinomial(probs, 1, generator=generator)[0])


def row_generator(device: torch.device, seed: int | None) -> torch.Generator:
    """A generator of its own per request, so one row's draws never shift another's."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator
