"""LoRA adapters inside the served model: one PeftModel wrapper, adapters loaded, swapped, deleted.

Everything that changes the model (`load_adapter`, `swap_adapter`, `delete_adapter`) must run on
the batcher's model thread (`ContinuousBatcher.run_between_steps`); `read_adapter` runs anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from peft import LoraConfig, PeftConfig, PeftModel
from peft.utils import load_peft_weights
from peft.utils.hotswap import check_hotswap_configs_compatible, hotswap_adapter_from_state_dict

from aivo.engine.loader import LoadedModel

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed-batch `adapter_names` list
PLACEHOLDER_ADAPTER = "__placeholder__"
LORA_PREFIX = "lora_"

Layout = tuple[tuple[str, tuple[int, ...]], ...]


def wrap_for_adapters(loaded: LoadedModel) -> LoadedModel:
    """`loaded` with its model inside a PeftModel; a PeftModel is returned as it is.

    The base model is modified in place (LoRA layers are injected), so the caller hands over the
    model: every later forward pass should go through the returned object.
    """
    if isinstance(loaded.model, PeftModel):
        return loaded
    # PeftModel needs one adapter to exist: a rank-1 adapter whose B is zero, never named by a row.
    # target_modules=None lets PEFT pick the usual targets for the architecture.
    placeholder = LoraConfig(r=1, target_modules=None, inference_mode=True)
    model = PeftModel(loaded.model, placeholder, adapter_name=PLACEHOLDER_ADAPTER)
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


def delete_adapters(model: PeftModel, names: list[str]) -> None:
    for name in names:
        model.delete_adapter(name)


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
