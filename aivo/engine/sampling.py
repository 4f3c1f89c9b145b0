"""The next token of each row: greedy at temperature 0, else sampled with the row's generator."""

from __future__ import annotations

import torch

# Below this, logits / temperature overflows to inf: such a temperature is greedy in effect.
MIN_SAMPLING_TEMPERATURE = 1e-3


def samples(temperature: float) -> bool:
    return temperature >= MIN_SAMPLING_TEMPERATURE


def next_tokens(
    logits: torch.Tensor, temperatures: list[float], generators: list[torch.Generator | None]
) -> list[int]:
    """One token id per row of `logits` [rows, vocab]."""
    chosen = logits.argmax(dim=-1)
    for row, temperature in enumerate(temperatures):
        if samples(temperature):
            probs = torch.softmax(logits[row].float() / temperature, dim=-1)
            chosen[row] = torch.multinomial(probs, 1, generator=generators[row])[0]
    return [int(t) for t in chosen.tolist()]


def row_generator(device: torch.device, seed: int | None) -> torch.Generator:
    """A generator of its own per request, so one row's draws never shift another's."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator
