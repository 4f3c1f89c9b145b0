"""Gathered multi-LoRA: resident student adapters live in slots of stacked tensors, and every
adapted layer applies all rows' adapters in one product per forward pass, instead of PEFT's loop
over the adapters present in a batch.

Per adapted linear layer: A [slots, r_max, in] and B^T [slots, r_max, out] with the adapter's
scaling folded into B, in the model's dtype. Slot 0 means "no adapter" and stays zero. Ranks under
r_max are padded with zeros, which add exact zeros. A forward pass takes the rows of A and B^T of
the slots its rows use (u of them) as two dense matrices, [u*r, in] and [u*r, out], kept while
the batch's slots stay the same; then x @ A^T, masked so that each row keeps only its own slot's
r columns, @ B^T is the update: two plain matmuls per layer whatever the mix, where a product
gathered per row (vLLM's CPU `PunicaWrapperCPU` with `lora/ops/torch_ops`) costs more small
kernels than the base layer itself on a 576-wide model. Loading copies an adapter's tensors (read
from PEFT's safetensors file, still the storage format) into a free slot, with no new modules;
layers and slots grow on demand. Like PEFT's, every change runs on the batcher's model thread.
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
    """The slots the rows of the running forward pass use, shared by every adapted layer."""

    def __init__(self) -> None:
        self.slots: tuple[int, ...] = ()  # each row's slot; 0: no adapter
        self.used: tuple[int, ...] = ()  # the distinct slots in use, sorted; () when none is
        self.version = 0  # changes whenever `slots` or a slot's weights change
        self.active = False  # True during a GatheredLoraModel forward pass
        self._device = torch.device("cpu")
        self._selections: dict[tuple[int, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def set(self, slots: list[int], device: torch.device) -> None:
        if tuple(slots) == self.slots and device == self._device:
            return
        self.slots, self._device = tuple(slots), device
        self.used = tuple(sorted({slot for slot in slots if slot}))
        self.changed()

    def changed(self) -> None:
        self.version += 1
        self._selections.clear()

    def selection(self, rank: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """For layers of rank `rank`: the rows of their flattened [slots*rank, ...] tensors that
        the used slots own, and the [rows, u*rank] mask that keeps each row's own slot."""
        key = (rank, dtype)
        if key not in self._selections:
            used = torch.tensor(self.used, device=self._device)
            rows = (used[:, None] * rank + torch.arange(rank, device=self._device)).flatten()
            place = {slot: index for index, slot in enumerate(self.used)}
            mask = torch.zeros(len(self.slots), len(self.used), rank, dtype=dtype)
            for row, slot in enumerate(self.slots):
                if slot:
                    mask[row, place[slot]] = 1
            self._selections[key] = (rows, mask.flatten(1).to(self._device))
        return self._selections[key]


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
        self.lora_b = torch.zeros(slots, 0, outer, dtype=dtype, device=device)  # B^T * scaling
        self._picked: tuple[int, torch.Tensor, torch.Tensor] | None = None  # (version, A, B^T)

    def resize(self, slots: int, rank: int) -> None:
        """At least `slots` slots and rank `rank`; existing slots keep their weights."""
        old_slots, old_rank = self.lora_a.shape[0], self.lora_a.shape[1]
        slots, rank = max(slots, old_slots), max(rank, old_rank)
        if (slots, rank) == (old_slots, old_rank):
            return
        a = self.lora_a.new_zeros(slots, rank, self.lora_a.shape[2])
        b = self.lora_b.new_zeros(slots, rank, self.lora_b.shape[2])
        a[:old_slots, :old_rank] = self.lora_a
        b[:old_slots, :old_rank] = self.lora_b
        self.lora_a, self.lora_b = a, b
        self.rows.changed()

    def put(self, slot: int, a: torch.Tensor, b: torch.Tensor, scaling: float) -> None:
        rank = a.shape[0]
        self.resize(slot + 1, rank)
        self.clear(slot)
        self.lora_a[slot, :rank] = a
        self.lora_b[slot, :rank] = (b.T.float() * scaling).to(self.lora_b.dtype)

    def clear(self, slot: int) -> None:
        self.lora_a[slot] = 0
        self.lora_b[slot] = 0
        self.rows.changed()

    def slot_nbytes(self) -> int:
        return (self.lora_a[0].nbytes + self.lora_b[0].nbytes) if len(self.lora_a) else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.base_layer(x)
        rank = self.lora_a.shape[1]
        if not (self.rows.active and self.rows.used and rank):
            return result
        rows, mask = self.rows.selection(rank, self.lora_a.dtype)
        if self._picked is None or self._picked[0] != self.rows.version:
            a = self.lora_a.view(-1, self.in_features).index_select(0, rows)
            b = self.lora_b.view(-1, self.out_features).index_select(0, rows)
            self._picked = (self.rows.version, a, b)
        _, a, b = self._picked
        inner = torch.matmul(x.to(a.dtype), a.T)  # [rows, ..., u*r]
        inner.mul_(mask.view(mask.shape[0], *[1] * (x.dim() - 2), mask.shape[1]))
        return result.add_(torch.matmul(inner, b).to(result.dtype))


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
        self._rows.active = True
        try:
            return self.base_model(**kwargs)
        finally:
            self._rows.active = False  # a forward pass of the bare base model adapts nothing

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
