"""Shared-prefix KV reuse: the KV state of recent prompt prefixes, kept by block, bounded by bytes.

A prompt is cut into blocks of `block_tokens`. Block k is known by a sha256 chain over the model,
the weights that computed it (the base model, or an adapter's student, version and weights
digest) and every token up to the end of block k: a block is only found by a prompt that starts
with the very same tokens under the very same weights, so a new adapter version never meets KV
computed with the old one (vLLM's automatic prefix caching, and its issue 42125). A newcomer
prefills only what follows its longest cached prefix; its new full blocks are kept for the next.
Least recently used blocks go first, and a chain's later blocks before its earlier ones.

Only the batcher's model thread uses a PrefixCache.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from aivo.engine.kv_cache import BatchCache
from aivo.observability import record_prefix_cache

if TYPE_CHECKING:
    from aivo.config import EngineConfig

BASE_WEIGHTS = "base"  # the weights identity of rows served by the base model


@dataclass
class PrefixLookup:
    """One prompt's blocks: their chained digests, how many lead blocks were found, their KV."""

    digests: list[bytes]
    hit_blocks: int = 0
    kv: torch.Tensor | None = None  # [layers, 2, kv_heads, hit tokens, head_dim]
    weights: str = BASE_WEIGHTS  # what computed the blocks


@dataclass
class PrefixStats:
    hit_tokens: int = 0
    prompt_tokens: int = 0
    evictions: int = 0
    nbytes: int = 0


class PrefixCache:
    def __init__(self, model_name: str, *, block_tokens: int = 16, max_bytes: int = 256 * 2**20):
        if block_tokens < 1 or max_bytes < 1:
            raise ValueError("block_tokens and max_bytes must be positive")
        self.model_name = model_name
        self.block_tokens = block_tokens
        self.max_bytes = max_bytes
        self.stats = PrefixStats()
        self._blocks: OrderedDict[bytes, torch.Tensor] = OrderedDict()  # least recently used first
        self._weights: dict[bytes, str] = {}  # each block's weights identity, to forget a student

    def lookup(self, prompt: list[int], weights: str | None) -> PrefixLookup:
        """The longest cached prefix of `prompt` under `weights` (None: this row is not cached),
        leaving at least one token to prefill, whose logits pick the first answer token."""
        if weights is None:
            self._record(missed=len(prompt))
            return PrefixLookup([])
        lookup = PrefixLookup(self._chain(weights, prompt), weights=weights)
        found = self._found(lookup.digests, len(prompt))
        if found:
            lookup.hit_blocks = len(found)
            lookup.kv = torch.cat(found, dim=3)
        hit = lookup.hit_blocks * self.block_tokens
        self._record(hit=hit, missed=len(prompt) - hit)
        return lookup

    def cached_tokens(self, prompt: list[int], weights: str | None) -> int:
        """How many leading tokens of `prompt` a lookup would find now (nothing recorded)."""
        if weights is None:
            return 0
        return len(self._found(self._chain(weights, prompt), len(prompt))) * self.block_tokens

    def _found(self, digests: list[bytes], prompt_tokens: int) -> list[torch.Tensor]:
        """The cached blocks that lead the chain, leaving at least one token to prefill."""
        found = []
        for digest in digests[: (prompt_tokens - 1) // self.block_tokens]:
            block = self._blocks.get(digest)
            if block is None:
                break
            found.append(block)
        return found

    def store(self, lookup: PrefixLookup, cache: BatchCache, row: int, prompt_tokens: int) -> None:
        """Keep the full blocks of `row` of a just prefilled `cache` that are not kept (those it
        computed itself, and any it found that another row's store has evicted since), and mark
        the prompt's blocks used."""
        missing = [k for k, digest in enumerate(lookup.digests) if digest not in self._blocks]
        if missing:
            size = self.block_tokens
            first = cache.columns - prompt_tokens  # the prompt's token j sits in column first + j
            span = cache.row_states(
                row, first + missing[0] * size, first + len(lookup.digests) * size
            ).split(size, dim=3)
            for k in missing:
                kv = span[k - missing[0]].contiguous()
                self._blocks[lookup.digests[k]] = kv
                self._weights[lookup.digests[k]] = lookup.weights
                self.stats.nbytes += kv.nbytes
        for digest in reversed(lookup.digests):  # a chain's later blocks are evicted first
            self._blocks.move_to_end(digest)
        self._evict()

    def students(self) -> set[str]:
        """The students whose adapters computed blocks still kept."""
        return {weights.split("/", 1)[0] for weights in self._weights.values() if "/" in weights}

    def forget(self, student_id: str) -> int:
        """Drop every block an adapter of the student computed (the student was deleted); how
        many. Base-model blocks are shared by whoever sent the same prompt, and age out."""
        mine = [d for d, weights in self._weights.items() if weights.startswith(f"{student_id}/")]
        for digest in mine:
            self._drop(digest)
        self._record()
        return len(mine)

    def _drop(self, digest: bytes) -> None:
        self.stats.nbytes -= self._blocks.pop(digest).nbytes
        del self._weights[digest]

    def _evict(self) -> None:
        evicted = 0
        while self.stats.nbytes > self.max_bytes and self._blocks:
            self._drop(next(iter(self._blocks)))
            evicted += 1
        self._record(evicted=evicted)

    def _chain(self, weights: str, prompt: list[int]) -> list[bytes]:
        digest = hashlib.sha256(f"{self.model_name}\0{weights}".encode()).digest()
        size = self.block_tokens
        digests = []
        for end in range(size, len(prompt) + 1, size):
            tokens = array("q", prompt[end - size : end]).tobytes()
            digest = hashlib.sha256(digest + tokens).digest()
            digests.append(digest)
        return digests

    def _record(self, hit: int = 0, missed: int = 0, evicted: int = 0) -> None:
        stats = self.stats
        stats.hit_tokens += hit
        stats.prompt_tokens += hit + missed
        stats.evictions += evicted
        record_prefix_cache(self.model_name, hit, missed, evicted, stats.nbytes)


def configured_prefix_cache(config: EngineConfig, model_name: str) -> PrefixCache | None:
    """A model's prefix cache as the engine config asks for it (`prefix_cache: false`: none)."""
    if not config.prefix_cache:
        return None
    return PrefixCache(
        model_name, block_tokens=config.prefix_block_tokens, max_bytes=config.prefix_cache_bytes
    )
