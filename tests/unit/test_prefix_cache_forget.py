"""A deleted student's prefix KV leaves the cache: small real caches, no model."""

from __future__ import annotations

import torch
from transformers import DynamicCache

from aivo.engine.kv_cache import BatchCache
from aivo.engine.prefix_cache import BASE_WEIGHTS, PrefixCache

BLOCK = 4


def prefilled(prompt: list[int]) -> BatchCache:
    """One row (two layers, two heads of three dimensions) whose KV for token j holds j."""
    values = torch.arange(len(prompt), dtype=torch.float32).view(1, 1, -1, 1).expand(1, 2, -1, 3)
    cache = DynamicCache()
    for layer in range(2):
        cache.update(values.clone(), values.clone(), layer)
    return BatchCache(cache, torch.ones(1, len(prompt), dtype=torch.long))


def keep(reuse: PrefixCache, prompt: list[int], weights: str) -> None:
    reuse.store(reuse.lookup(prompt, weights), prefilled(prompt), 0, len(prompt))


def test_forgetting_a_student_drops_only_the_blocks_their_adapters_computed() -> None:
    reuse = PrefixCache("m", block_tokens=BLOCK)
    prompt = list(range(100, 113))  # three full blocks and one token to prefill
    keep(reuse, prompt, "ann/v1:aa")
    keep(reuse, prompt, "ann/v2:bb")
    keep(reuse, prompt, "annie/v1:cc")  # a student whose id starts with another's
    keep(reuse, prompt, BASE_WEIGHTS)
    assert reuse.students() == {"ann", "annie"}
    before = reuse.stats.nbytes

    assert reuse.forget("ann") == 6

    assert reuse.students() == {"annie"}
    assert reuse.stats.nbytes == before // 2
    assert reuse.lookup(prompt, "ann/v1:aa").hit_blocks == 0
    assert reuse.lookup(prompt, "annie/v1:cc").hit_blocks == 3
    assert reuse.lookup(prompt, BASE_WEIGHTS).hit_blocks == 3
    assert reuse.forget("ann") == 0


def test_eviction_keeps_the_weights_index_in_step() -> None:
    one_block = 2 * 2 * 2 * BLOCK * 3 * 4  # layers x (k, v) x heads x tokens x dim x 4 bytes
    reuse = PrefixCache("m", block_tokens=BLOCK, max_bytes=2 * one_block)
    keep(reuse, list(range(9)), "bob/v1:aa")  # two blocks
    keep(reuse, list(range(50, 59)), BASE_WEIGHTS)  # two more: bob's go
    assert reuse.stats.evictions == 2 and reuse.students() == set()
    assert reuse.forget("bob") == 0 and reuse.stats.nbytes == 2 * one_block
