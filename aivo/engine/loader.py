"""Load a causal LM named by a hub id, a local folder, or `bundled:<key>`."""

from __future__ import annotations

import contextlib
import ctypes
import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from aivo.config import EngineConfig, ModelSpec
from aivo.engine.bundled import PREFIX, bundled_model_folder
from aivo.engine.device import pick_device, pick_dtype


@dataclass
class LoadedModel:
    name: str
    model: Any  # a transformers PreTrainedModel (or a PeftModel around one)
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    dtype: torch.dtype
    quantization: str

    @property
    def eos_token_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        ids = ids if isinstance(ids, list) else [ids]
        return {i for i in [*ids, self.tokenizer.eos_token_id] if i is not None}

    def chat_prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of `messages` under this model's own chat template. A last message of
        the assistant is continued, not closed: the model writes on from its text."""
        continued = messages[-1]["role"] == "assistant"
        encoded = self.tokenizer.apply_chat_template(
            messages,
            add_generation_prompt=not continued,
            continue_final_message=continued,
            tokenize=True,
            return_dict=True,
        )
        return list(encoded["input_ids"])  # type: ignore[index, call-overload, arg-type]


def model_source(spec: ModelSpec, config: EngineConfig) -> str:
    """A folder or hub id for from_pretrained; local names must exist."""
    if spec.name.startswith(PREFIX):
        return str(bundled_model_folder(spec.name, config.cache_dir))
    if spec.name.startswith((".", "/", "~")):
        folder = Path(spec.name).expanduser()
        if not (folder / "config.json").exists():
            raise FileNotFoundError(f"model folder {folder} has no config.json")
        return str(folder)
    return spec.name


def load_model(spec: ModelSpec, config: EngineConfig) -> LoadedModel:
    source = model_source(spec, config)
    device = pick_device(config.device)
    dtype = pick_dtype(spec.dtype, device)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if spec.quantization == "nf4":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype
        )
        kwargs["device_map"] = {"": device}
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if spec.quantization != "nf4":
        model.to(device)  # type: ignore[arg-type]
    elif device.type == "cpu":
        keep_portable_4bit_layout(model)
        release_weight_file(model)
    model.eval()
    return LoadedModel(spec.name, model, tokenizer, device, dtype, spec.quantization)


def keep_portable_4bit_layout(model: Any) -> None:
    """Stop bitsandbytes from repacking 4-bit weights for avx512_bf16 CPUs.

    bnb 0.50 repacks each Linear4bit on its first CPU forward pass, and every `state_dict()` call
    (PEFT makes one per adapter load and hot swap) unpacks it again without restoring the block
    scales: from then on the model answers garbage. The portable layout dequantises and runs
    torch's own matmul, which also gives a row the same answer in any batch shape.
    """
    from bitsandbytes.nn import Linear4bit

    for module in model.modules():
        if isinstance(module, Linear4bit):
            module.support_avx512bf16_for_cpu = False


def release_weight_file(model: Any) -> None:
    """Give a 4-bit model on CPU its own copy of the tensors left unquantised (embeddings, norms),
    which are views of the memory-mapped weight file: with no view left the file is unmapped,
    and its pages no longer count against the process. Then the loader's freed full-precision
    temporaries go back to the operating system."""
    from bitsandbytes.nn import Params4bit

    copies: dict[tuple[int, torch.Size], torch.Tensor] = {}  # tied weights stay tied
    for module in model.modules():
        tensors = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
        for tensor in tensors:
            if isinstance(tensor, Params4bit) or tensor.device.type != "cpu":
                continue
            key = (tensor.data_ptr(), tensor.shape)  # views of one file share a storage
            if key not in copies:
                copies[key] = tensor.data.clone()
            tensor.data = copies[key]
    copies.clear()
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the allocator keeps it
        ctypes.CDLL("libc.so.6").malloc_trim(0)
