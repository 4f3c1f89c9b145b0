"""nf4 (bitsandbytes 4-bit) against full precision, in one run: weight memory and throughput.

    python -m bench.quantization [--max-tokens 32]

Each variant (full precision in the dtype `auto` picks, fp32 too when that differs, and nf4
computing in the `auto` dtype) loads in a fresh process, one after the other, so the resident
memory each load adds is its own. Figures per variant: bytes of parameters, buffers and 4-bit
quantisation state; the resident memory (anonymous and file-backed) the process gained by loading
the model, its adapters and serving; tokens/s and time to first token with 16 concurrent requests
over 8 LoRA adapters (made once, before the variants) through the ContinuousBatcher and the
gathered LoRA forward that serves them.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from aivo.config import BUNDLED_MODEL, EngineConfig, ModelSpec
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.device import pick_device, pick_dtype
from aivo.engine.gathered_lora import gather_adapters
from aivo.engine.loader import load_model
from aivo.engine.lora import read_adapter, wrap_for_adapters
from bench.batching import (
    ADAPTERS,
    CLIENTS,
    QUESTIONS,
    Job,
    add_adapters,
    batcher_serve,
    run_clients,
)
from bench.loadgen import write_result


def resident_bytes() -> dict[str, int]:
    """This process's resident memory: anonymous (heap) and file-backed (mapped files)."""
    with open("/proc/self/status", encoding="ascii") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) * 1024 for k in ("RssAnon", "RssFile")}


def weight_bytes(model: torch.nn.Module) -> int:
    """Parameters and buffers (tied tensors once), plus 4-bit weights' block scales."""
    tensors = {t.data_ptr(): t for t in [*model.parameters(), *model.buffers()]}
    total = sum(t.nbytes for t in tensors.values())
    for parameter in model.parameters():
        state = getattr(parameter, "quant_state", None)
        if state is not None:
            total += state.absmax.nbytes + state.code.nbytes
    return total


def make_adapters(work: Path) -> list[str]:
    """In a fresh process: the bench's 8 adapters, saved under `work`/<name>."""
    config = EngineConfig(models=[ModelSpec(name=BUNDLED_MODEL, dtype="float32")])
    return add_adapters(wrap_for_adapters(load_model(config.models[0], config)), work)


def measure(spec: ModelSpec, max_tokens: int, work: Path, names: list[str]) -> dict[str, Any]:
    """In a fresh process: load `spec`, then serve 16 concurrent requests over 8 adapters."""
    config = EngineConfig(models=[spec])
    torch.set_num_threads(config.torch_threads or os.cpu_count() or 1)
    before = resident_bytes()
    loaded = load_model(spec, config)
    weights = weight_bytes(loaded.model)
    loaded = gather_adapters(loaded)
    for name in names:
        loaded.model.load_slot(name, read_adapter(work / name))
    prompts = [loaded.chat_prompt_ids([{"role": "user", "content": q}]) for q in QUESTIONS]
    jobs = [Job(p, max_tokens, names[i % ADAPTERS]) for i, p in enumerate(prompts[:CLIENTS])]
    label = f"{spec.quantization}, {loaded.dtype}".replace("torch.", "")

    async def serve() -> dict[str, Any]:
        batcher = ContinuousBatcher(loaded, max_batch_size=CLIENTS, batch_wait_ms=5)
        try:
            await run_clients(f"{label} warm-up", jobs[:4], batcher_serve(batcher))
            run = await run_clients(label, jobs, batcher_serve(batcher))
        finally:
            batcher.close()
        return run.figures()

    figures = asyncio.run(serve())
    # after serving: full-precision weights are mapped from the safetensors file and count once read
    added = {k: v - before[k] for k, v in resident_bytes().items()}
    return {
        "quantization": spec.quantization,
        "dtype": str(loaded.dtype),
        "weight_bytes": weights,
        "rss_added_bytes": sum(added.values()),
        "rss_anon_added_bytes": added["RssAnon"],
        "rss_file_added_bytes": added["RssFile"],
        "load_average": os.getloadavg(),
        **figures,
    }


def variants() -> list[ModelSpec]:
    auto = pick_dtype("auto", pick_device("auto"))
    full = [ModelSpec(name=BUNDLED_MODEL)]
    if auto != torch.float32:
        full.append(ModelSpec(name=BUNDLED_MODEL, dtype="float32"))
    return [*full, ModelSpec(name=BUNDLED_MODEL, quantization="nf4")]


def main(max_tokens: int, work: Path) -> dict[str, Any]:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
        names = fresh.submit(make_adapters, work).result()
    figures = []
    for spec in variants():
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
            figures.append(fresh.submit(measure, spec, max_tokens, work, names).result())
    full, nf4 = figures[0], figures[-1]
    fp32 = next(f for f in figures if f["dtype"] == str(torch.float32))
    return {
        "max_tokens": max_tokens,
        "clients": CLIENTS,
        "adapters": ADAPTERS,
        "variants": figures,
        "nf4_over_full_precision": {
            "full_precision_dtype": full["dtype"],
            "weight_bytes": round(nf4["weight_bytes"] / full["weight_bytes"], 3),
            "rss_added": round(nf4["rss_added_bytes"] / full["rss_added_bytes"], 3),
            "rss_anon_added": round(nf4["rss_anon_added_bytes"] / full["rss_anon_added_bytes"], 3),
            "tokens_per_s": round(nf4["tokens_per_s"] / full["tokens_per_s"], 3),
            "ttft_p50": round(nf4["ttft_p50_ms"] / full["ttft_p50_ms"], 3),
        },
        "nf4_rss_added_over_fp32": round(nf4["rss_added_bytes"] / fp32["rss_added_bytes"], 3),
        "target": 0.5,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aivo-bench-") as work:
        result = main(args.max_tokens, Path(work))
    write_result("quantization", result)
