"""LoRA adapters inside the served model: the AdapterModel interface the batcher and the residency
use, and PEFT's implementation of it (the reference path; `gathered_lora` is the served one).

Everything that changes the model (`load_slot`, `swap_slot`, `delete_slots`) must run on the
batcher's model thread (`ContinuousBatcher.run_between_steps`); `read_adapter` runs anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import torch
from peft import LoraConfig, PeftConfig, PeftModel
from peft.utils import load_peft_weights
from peft.utils.hotswap import check_hotswap_configs_compatible, hotswap_adapter_from_state_dict

from aivo.engine.loader import LoadedModel

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed-batch `adapter_names` list
PLACEHOLDER_ADAPTER = "__placeholder__"
LORA_PREFIX = "lora_"

Layout = tuple[tuple[str, tuple[int, ...]], ...]


class AdapterModel(Protocol):
    """A causal LM called with `adapter_names` (one per row) that holds named adapters."""

    config: Any

    def __call__(self, *, adapter_names: list[str], **kwargs: Any) -> Any: ...

    def holds_adapter(self, name: str) -> bool: ...

    def held_adapters(self) -> set[str]: ...

    def can_swap(self, adapter: AdapterWeights, loaded_from: AdapterWeights) -> bool:
        """Whether `adapter` can be swapped into a slot first loaded from `loaded_from`."""
        ...

    def load_slot(self, name: str, adapter: AdapterWeights) -> int:
        """Load `adapter` under `name` (or leave the model as it was); the bytes it holds."""
        ...

    def swap_slot(self, name: str, adapter: AdapterWeights) -> None: ...

    def delete_slots(self, names: list[str]) -> None: ...


class PeftAdapterModel(PeftModel):
    """PEFT's multi-adapter model as an AdapterModel: load_adapter, hot swap, delete_adapter."""

    def holds_adapter(self, name: str) -> bool:
        return name in self.peft_config

    def held_adapters(self) -> set[str]:
        return set(self.peft_config) - {PLACEHOLDER_ADAPTER}

    def can_swap(self, adapter: AdapterWeights, loaded_from: AdapterWeights) -> bool:
        return adapter.can_replace(loaded_from)

    def load_slot(self, name: str, adapter: AdapterWeights) -> int:
        return load_adapter(self, adapter, name)

    def swap_slot(self, name: str, adapter: AdapterWeights) -> None:
        swap_adapter(self, adapter, name)

    def delete_slots(self, names: list[str]) -> None:
        for name in names:
            self.delete_adapter(name)


def wrap_for_adapters(loaded: LoadedModel) -> LoadedModel:
    """`loaded` with its model inside a PeftAdapterModel; one is returned as it is.

    The base model is modified in place (LoRA layers are injected), so the caller hands over the
    model: every later forward pass should go through the returned object.
    """
    if isinstance(loaded.model, PeftAdapterModel):
        return loaded
    # PeftModel needs one adapter to exist: a rank-1 adapter whose B is zero, never named by a row.
    # target_modules=None lets PEFT pick the usual targets for the architecture.
    placeholder = LoraConfig(r=1, target_modules=None, inference_mode=True)
    model = PeftAdapterModel(loaded.model, placeholder, adapter_name=PLACEHOLDER_ADAPTER)
    model.eval()
    return replace(loaded, model=model)


@dataclass(frozen=True)
class AdapterWeights:
    """A LoRA adapter read from its PEFT folder, ready to be loaded or swapped in."""

    folder: Path
    config: LoraConfig
    tensors: dict[str, torch.Tensor]
    layout: Layout  # tensor names and shapes: equal layouts can take each other's place

    def can_replace(self, other: AdapterWeights) -> bool:
        """Whether these weights can be swapped into a slot that `other` was loaded into."""
        if (
            self.layout != other.layout
            or self.config.modules_to_save
            or other.config.modules_to_save
        ):
            return False
        try:
            check_hotswap_configs_compatible(other.config, self.config)
        except ValueError:
            return False
        return True


def read_adapter(folder: Path) -> AdapterWeights:
    """The adapter in `folder` (PEFT's adapter_config.json and weights); raises if unreadable."""
    config = PeftConfig.from_pretrained(str(folder))
    if not isinstance(config, LoraConfig):
        raise ValueError(f"only LoRA adapters can be served, not {type(config).__name__}")
    tensors = load_peft_weights(str(folder), device="cpu")
    layout = tuple(sorted((key, tuple(t.shape)) for key, t in tensors.items()))
    return AdapterWeights(Path(folder), config, tensors, layout)


def load_adapter(model: PeftModel, adapter: AdapterWeights, name: str) -> int:
    """PEFT loads the adapter's folder under `name` (or the model is left as it was); its bytes."""
    try:
        # autocast off: the adapter keeps the model's dtype (PEFT would upcast bf16 to fp32)
        result = model.load_adapter(
            str(adapter.folder), adapter_name=name, autocast_adapter_dtype=False
        )
        if result.missing_keys:
            raise ValueError(f"{len(result.missing_keys)} adapter tensors are missing")
    except Exception:
        if name in model.peft_config:
            model.delete_adapter(name)
        raise
    return adapter_nbytes(model, name)


def swap_adapter(model: PeftModel, adapter: AdapterWeights, name: str) -> None:
    """Overwrite the weights and scaling of loaded adapter `name` in place (PEFT's hot swap).

    Much cheaper than load_adapter (no new modules), for an adapter that `can_replace` the one
    `name` was loaded from.
    """
    state = {_with_adapter_name(key, name): tensor for key, tensor in adapter.tensors.items()}
    hotswap_adapter_from_state_dict(model, state, name, adapter.config)


def adapter_nbytes(model: PeftModel, name: str) -> int:
    """Bytes held by one loaded adapter's tensors."""
    marker = f".{name}."
    return sum(p.nbytes for key, p in model.named_parameters() if marker in key)


def _with_adapter_name(key: str, name: str) -> str:
    # saved keys lack the adapter name: "...q_proj.lora_A.weight" -> "...lora_A.<name>.weight"
    head, prefix, suffix = key.rpartition(LORA_PREFIX)
    if not prefix:
        return key
    part, dot, rest = suffix.partition(".")
    return f"{head}{prefix}{part}.{name}{dot}{rest}"
