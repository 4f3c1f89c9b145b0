"""The running batch's KV cache: rows left-padded to one length, joined and dropped between steps.

transformers' DynamicCache keeps, per layer, `keys` and `values` of shape
[batch, kv_heads, seq, head_dim]; the 2-D attention mask [batch, seq] says which columns of a row
are real tokens. Left padding keeps every row's newest token in the last column, so one decoding
step appends one column for all rows. A row that started from a cached prompt prefix may have
masked columns between that prefix and the rest of its prompt (positions stay right).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from transformers import DynamicCache, PretrainedConfig
from transformers.cache_utils import DynamicLayer


def left_padded(
    prompts: list[list[int]], pad_id: int, device: torch.device, cached: list[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """input_ids, attention mask and position ids of prompts padded on the left to one length.

    The first `cached[i]` tokens of prompt i are in the cache already (see `with_prefixes`):
    they are not in input_ids, and take the mask's leading columns, right-aligned to the input.
    """
    cached = cached or [0] * len(prompts)
    known, width = max(cached), max(len(p) - c for p, c in zip(prompts, cached, strict=True))
    ids = torch.tensor(
        [[pad_id] * (width - len(p) + c) + p[c:] for p, c in zip(prompts, cached, strict=True)],
        device=device,
    )
    mask = torch.tensor(
        [
            [0] * (known - c) + [1] * c + [0] * (width - len(p) + c) + [1] * (len(p) - c)
            for p, c in zip(prompts, cached, strict=True)
        ],
        device=device,
    )
    # padding columns get any position; they are masked out, so their value never matters
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, known:]
    return ids, mask, positions


def with_prefixes(config: PretrainedConfig, prefixes: list[torch.Tensor | None]) -> DynamicCache:
    """A cache holding each row's cached prefix ([layers, 2, kv_heads, tokens, head_dim] or None),
    right-aligned in its leading columns as `left_padded` lays out the mask; empty when none."""
    cache = DynamicCache(config=config)
    present = [p for p in prefixes if p is not None]
    if not present:
        return cache
    width = max(p.shape[3] for p in present)
    layers, _, heads, _, dim = present[0].shape
    region = present[0].new_zeros(layers, 2, len(prefixes), heads, width, dim)
    for row, prefix in enumerate(prefixes):
        if prefix is not None:
            region[:, :, row, :, width - prefix.shape[3] :] = prefix
    for layer in range(layers):
        cache.update(region[layer, 0], region[layer, 1], layer)
    return cache


class BatchCache:
    """A DynamicCache and its attention mask; row i of both belongs to the same request."""

    def __init__(self, cache: DynamicCache, mask: torch.Tensor) -> None:
        # exactly DynamicLayer: sliding-window and quantised layers reshape columns on their own
        if any(type(layer) is not DynamicLayer for layer in cache.layers):
            raise ValueError("continuous batching needs a model whose cache is plain DynamicLayers")
        self.cache = cache
        self.mask = mask
        self._layers = cast(list[DynamicLayer], cache.layers)

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])

    @property
    def columns(self) -> int:
        return int(self.mask.shape[1])

    def row_states(self, row: int, start: int, stop: int) -> torch.Tensor:
        """A copy of columns [start, stop) of one row: [layers, 2, kv_heads, columns, head_dim]."""
        return torch.stack(
            [torch.stack((k[row, :, start:stop], v[row, :, start:stop])) for k, v in self._all()]
        )

    def next_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Position ids [rows, 1] of each row's next token, and the mask that includes it."""
        positions = self.mask.sum(dim=1, keepdim=True)
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.rows, 1))], dim=1)
        return positions, self.mask

    def keep(self, rows: list[int]) -> None:
        """Keep these rows, in this order, and drop leading columns that none of them uses."""
        index = torch.tensor(rows, device=self.mask.device)
        mask = self.mask.index_select(0, index)
        first = int(mask.any(dim=0).int().argmax())  # every row has real tokens: one column is set
        self.mask = mask[:, first:]
        for layer in self._layers:
            keys, values = _states(layer)
            layer.keys = keys.index_select(0, index)[:, :, first:]
            layer.values = values.index_select(0, index)[:, :, first:]

    def join(self, other: BatchCache) -> None:
        """Append `other`'s rows after this cache's, padding the shorter one on the left."""
        width = max(self.columns, other.columns)
        self.mask = torch.cat([_pad_mask(self.mask, width), _pad_mask(other.mask, width)], dim=0)
        for mine, theirs in zip(self._layers, other._layers, strict=True):
            (keys, values), (their_keys, their_values) = _states(mine), _states(theirs)
            mine.keys = torch.cat([_pad_kv(keys, width), _pad_kv(their_keys, width)])
            mine.values = torch.cat([_pad_kv(values, width), _pad_kv(their_values, width)])

    def _all(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [_states(layer) for layer in self._layers]


def _states(layer: DynamicLayer) -> tuple[torch.Tensor, torch.Tensor]:
    if layer.keys is None or layer.values is None:
        raise ValueError("a cache layer holds no states: the prefill did not fill it")
    return layer.keys, layer.values


def _pad_mask(mask: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(mask, (width - mask.shape[1], 0))


def _pad_kv(states: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(states, (0, 0, width - states.shape[2], 0))  # pads the seq dimension on the left
