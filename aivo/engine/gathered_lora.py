"""Gathered multi-LoRA: resident student adapters live in slots of stacked tensors, and every
adapted layer applies all rows' adapters in one gathered product per forward pass (as vLLM's CPU
path, `PunicaWrapperCPU` with `lora/ops/torch_ops`, does), instead of PEFT's loop over the
adapters present in a batch.

Per adapted linear layer: A [slots, r_max, in], B [slots, out, r_max] and scaling [slots] in the
model's dtype, PEFT's own layout per slot. Slot 0 means "no adapter" and stays zero. Ranks under
r_max are padded with zeros, which add exact zeros. Loading copies an adapter's tensors (read from
PEFT's safetensors file, still the storage format) into a free slot, with no new modules; layers
and slots grow on demand. Like PEFT's, every change runs on the batcher's model thread.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from aivo.engine.loader import LoadedModel
from aivo.engine.lora import BASE_ADAPTER, LORA_PREFIX, AdapterWeights

SAVED_PREFIX = "base_model.model."  # PEFT's saved keys: base_model.model.<module>.lora_A.weight
Update = tuple[torch.Tensor, torch.Tensor, float]  # one layer's A [r, in], B [out, r], scaling


class RowSlots:
    """The slot of each row in the running forward pass, shared by every adapted layer."""

    def __init__(self) -> None:
        # (rows that have an adapter, or None for all rows; their slots); None: no row has one
        self.picked: tuple[torch.Tensor | None, torch.Tensor] | None = None

    def set(self, slots: list[int], device: torch.device) -> None:
        adapted = [row for row, slot in enumerate(slots) if slot]
        if not adapted:
            self.picked = None
        elif len(adapted) == len(slots):
            self.picked = (None, torch.tensor(slots, device=device))
        else:
            chosen = [slots[row] for row in adapted]
            self.picked = (
                torch.tensor(adapted, device=device),
                torch.tensor(chosen, device=device),
            )


class GatheredLoraLinear(nn.Module):
    """A linear layer (plain or 4-bit) plus every slot's LoRA update for the rows that ask."""

    def __init__(self, base_layer: nn.Module, rows: RowSlots, slots: int, dtype: torch.dtype):
        super().__init__()
        self.base_layer = base_layer
        self.rows = rows
        self.in_features: int = base_layer.in_features  # type: ignore[assignment]
        self.out_features: int = base_layer.out_features  # type: ignore[assignment]
        inner, outer = self.in_features, self.out_features
        device = next(base_layer.parameters()).device
        self.lora_a = torch.zeros(slots, 0, inner, dtype=dtype, device=device)
        self.lora_b = torch.zeros(slots, outer, 0, dtype=dtype, device=device)
        self.scaling = torch.zeros(slots, dtype=dtype, device=device)

    def resize(self, slots: int, rank: int) -> None:
        """At least `slots` slots and rank `rank`; existing slots keep their weights."""
        old_slots, old_rank = self.lora_a.shape[0], self.lora_a.shape[1]
        slots, rank = max(slots, old_slots), max(rank, old_rank)
        if (slots, rank) == (old_slots, old_rank):
            return
        a = self.lora_a.new_zeros(slots, rank, self.lora_a.shape[2])
        b = self.lora_b.new_zeros(slots, self.lora_b.shape[1], rank)
        a[:old_slots, :old_rank] = self.lora_a
        b[:old_slots, :, :old_rank] = self.lora_b
        scaling = self.scaling.new_zeros(slots)
        scaling[:old_slots] = self.scaling
        self.lora_a, self.lora_b, self.scaling = a, b, scaling

    def put(self, slot: int, a: torch.Tensor, b: torch.Tensor, scaling: float) -> None:
        rank = a.shape[0]
        self.resize(slot + 1, rank)
        self.clear(slot)
        self.lora_a[slot, :rank] = a
        self.lora_b[slot, :, :rank] = b
        self.scaling[slot] = scaling

    def clear(self, slot: int) -> None:
        self.lora_a[slot] = 0
        self.lora_b[slot] = 0
        self.scaling[slot] = 0

    def slot_nbytes(self) -> int:
        return (self.lora_a[0].nbytes + self.lora_b[0].nbytes) if len(self.lora_a) else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.base_layer(x)
        if self.rows.picked is None:
            return result
        rows, slots = self.rows.picked
        picked = x if rows is None else x.index_select(0, rows)
        a = self.lora_a.index_select(0, slots).transpose(1, 2)  # [rows, in, r]
        b = self.lora_b.index_select(0, slots).transpose(1, 2)  # [rows, r, out]
        scaling = self.scaling.index_select(0, slots).view(-1, *[1] * (x.dim() - 1))
        update = torch.matmul(torch.matmul(picked.to(a.dtype), a), b) * scaling
        if rows is None:
            return result + update.to(result.dtype)
        return result.index_add_(0, rows, update.to(result.dtype))


class GatheredLoraModel(nn.Module):
    """A causal LM whose forward pass takes `adapter_names` (one per row, BASE_ADAPTER for none),
    serving every resident adapter from slots; the AdapterModel the batcher and residency use."""

    def __init__(
        self, base_model: nn.Module, dtype: torch.dtype, device: torch.device, slots: int
    ) -> None:
        super().__init__()
        self.base_model = base_model
        self._dtype, self._device = dtype, device
        self._rows = RowSlots()
        self._layers: dict[str, GatheredLoraLinear] = {}
        self._slots: dict[str, int] = {}  # adapter name -> slot
        self._free = list(range(slots, 0, -1))  # slot 0: no adapter
        self._capacity = slots + 1

    @property
    def config(self) -> Any:
        return self.base_model.config

    @property
    def generation_config(self) -> Any:
        return self.base_model.generation_config

    def forward(self, *, adapter_names: list[str], **kwargs: Any) -> Any:
        slots = [0 if name == BASE_ADAPTER else self._slots[name] for name in adapter_names]
        self._rows.set(slots, self._device)
        try:
            return self.base_model(**kwargs)
        finally:
            self._rows.picked = None

    # --- the AdapterModel interface ----------------------------------------------------------

    def holds_adapter(self, name: str) -> bool:
        return name in self._slots

    def held_adapters(self) -> set[str]:
        return set(self._slots)

    def can_swap(self, adapter: AdapterWeights, loaded_from: AdapterWeights) -> bool:
        return True  # any adapter fits any slot: layers and ranks grow as needed

    def load_slot(self, name: str, adapter: AdapterWeights) -> int:
        """Copy the adapter into a free slot under `name`; the bytes one slot holds."""
        updates = self._updates(adapter)  # checked before anything changes
        slot = self._free.pop() if self._free else self._grow()
        self._write(slot, updates)
        self._slots[name] = slot
        return sum(layer.slot_nbytes() for layer in self._layers.values())

    def swap_slot(self, name: str, adapter: AdapterWeights) -> None:
        self._write(self._slots[name], self._updates(adapter))

    def delete_slots(self, names: list[str]) -> None:
        for name in names:
            slot = self._slots.pop(name)
            for layer in self._layers.values():
                layer.clear(slot)
            self._free.append(slot)

    # --- slots -------------------------------------------------------------------------------

    def _grow(self) -> int:
        slot, self._capacity = self._capacity, self._capacity * 2
        self._free.extend(range(self._capacity - 1, slot, -1))
        for layer in self._layers.values():
            layer.resize(self._capacity, 0)
        return slot

    def _write(self, slot: int, updates: dict[str, Update]) -> None:
        for path in updates.keys() - self._layers.keys():
            self._layers[path] = self._inject(path)
        for path, layer in self._layers.items():
            if path in updates:
                layer.put(slot, *updates[path])
            else:
                layer.clear(slot)

    def _inject(self, path: str) -> GatheredLoraLinear:
        parent_path, _, child = path.rpartition(".")
        parent = self.base_model.get_submodule(parent_path)
        layer = GatheredLoraLinear(getattr(parent, child), self._rows, self._capacity, self._dtype)
        setattr(parent, child, layer)
        return layer

    def _updates(self, adapter: AdapterWeights) -> dict[str, Update]:
        """Module path -> (A, B, scaling), checked against the model; raises ValueError."""
        config = adapter.config
        unsupported = {
            "use_dora": config.use_dora,
            "modules_to_save": config.modules_to_save,
            "fan_in_fan_out": config.fan_in_fan_out,
            "lora_bias": config.lora_bias,
            "alpha_pattern": config.alpha_pattern,
        }
        if named := [key for key, value in unsupported.items() if value]:
            raise ValueError(f"gathered LoRA does not serve adapters with {', '.join(named)}")
        pairs: dict[str, dict[str, torch.Tensor]] = {}
        for key, tensor in adapter.tensors.items():
            module, prefix, part = key.removeprefix(SAVED_PREFIX).rpartition(f".{LORA_PREFIX}")
            if not prefix or part not in ("A.weight", "B.weight"):
                raise ValueError(f"unexpected adapter tensor {key!r}")
            pairs.setdefault(module, {})[part[0]] = tensor
        updates = {}
        for path, pair in pairs.items():
            a, b = pair.get("A"), pair.get("B")
            target = self._target(path)
            if a is None or b is None or a.shape != (b.shape[1], target.in_features):
                raise ValueError(f"adapter tensors for {path!r} do not fit the model")
            if b.shape[0] != target.out_features:
                raise ValueError(f"adapter tensors for {path!r} do not fit the model")
            rank = a.shape[0]
            root = math.sqrt(rank) if config.use_rslora else rank
            device = self._device
            updates[path] = (
                a.to(device, self._dtype),
                b.to(device, self._dtype),
                config.lora_alpha / root,
            )
        return updates

    def _target(self, path: str) -> Any:
        if path in self._layers:
            return self._layers[path]
        try:
            module = self.base_model.get_submodule(path)
        except AttributeError as error:
            raise ValueError(f"the model has no layer {path!r}") from error
        if not hasattr(module, "in_features") or not hasattr(module, "out_features"):
            raise ValueError(f"layer {path!r} is not a linear layer")
        return module


def gather_adapters(loaded: LoadedModel, slots: int = 32) -> LoadedModel:
    """`loaded` with its model inside a GatheredLoraModel with room for `slots` adapters (more
    double it). The model is modified in place as adapters arrive, so every later forward pass
    should go through the returned object."""
    if isinstance(loaded.model, GatheredLoraModel):
        return loaded
    model = GatheredLoraModel(loaded.model, loaded.dtype, loaded.device, slots)
    model.eval()
    return replace(loaded, model=model)
