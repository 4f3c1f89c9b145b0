"""The model's two forward passes in continuous batching, for the batcher and its benchmarks:
a prefill of left-padded prompts into a fresh cache, and one decoding step of every row."""

from __future__ import annotations

from typing import Any

import torch

from aivo.engine.kv_cache import BatchCache, left_padded, with_prefixes


@torch.inference_mode()
def prefill(
    model: Any,
    prompts: list[list[int]],
    pad_id: int,
    device: torch.device,
    adapters: list[str],
    prefixes: list[torch.Tensor | None] | None = None,
) -> tuple[BatchCache, torch.Tensor]:
    """The prompts through `model` (row i with adapter `adapters[i]`): their cache, and each
    row's next-token logits [rows, vocab]. `prefixes[i]`, when given, is the KV of prompt i's
    leading tokens (from a PrefixCache): only the tokens after it go through the model."""
    prefixes = prefixes or [None] * len(prompts)
    cached = [0 if p is None else p.shape[3] for p in prefixes]
    ids, mask, positions = left_padded(prompts, pad_id, device, cached)
    cache = with_prefixes(model.config, prefixes)
    output = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,  # only the last position's logits are needed
        adapter_names=adapters,
    )
    return BatchCache(cache, mask), output.logits[:, -1]


@torch.inference_mode()
def decode_step(
    model: Any, cache: BatchCache, tokens: torch.Tensor, adapters: list[str]
) -> torch.Tensor:
    """One step: each row's last token [rows, 1] in, each row's next-token logits out."""
    positions, mask = cache.next_step()
    output = model(
        input_ids=tokens,
        attention_mask=mask,
        position_ids=positions,
        past_key_values=cache.cache,
        use_cache=True,
        adapter_names=adapters,
    )
    return output.logits[:, -1]
