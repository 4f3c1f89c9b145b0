"""bf16 against fp32 on this CPU: the bundled model's decoding steps at batch 1, 16 and 64, in
one run, and the peak decoding rate against the ceiling a matmul rate sets.

    python -m bench.cpu_dtype [--rounds 5] [--steps 16]

Both models decode the same prompts through the product's PeftModel wrapper and batch KV cache;
the dtypes take turns round by round, so other load on the machine weighs on both alike. Also
prints the matmul probe that `dtype: auto` decides by, and what it picks here. The ceiling: a
large matmul's FLOP rate on all threads, in the same run, over 2 x parameters FLOP per token.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from typing import Any

import torch

from aivo.config import BUNDLED_MODEL, EngineConfig, ModelSpec
from aivo.engine.device import (
    PROBE_SHAPE,
    cpu_has_native_bf16,
    matmul_seconds,
    pick_dtype,
)
from aivo.engine.forward import decode_step, prefill
from aivo.engine.loader import LoadedModel, load_model
from aivo.engine.lora import BASE_ADAPTER, wrap_for_adapters
from bench.batching import QUESTIONS, cpu_stall_us
from bench.loadgen import write_result

DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}
BATCHES = (1, 16, 64)
CEILING_SHAPE = (256, 2048, 2048)  # large enough that a matmul runs at the cores' full rate
CEILING_TARGET = 0.35


def prefill_and_step_seconds(
    loaded: LoadedModel, prompts: list[list[int]], adapters: list[str], steps: int
) -> tuple[float, float]:
    """Seconds of the prompts' prefill as one batch, and the mean of one decoding step after it;
    row i runs adapter `adapters[i]` (BASE_ADAPTER: none). The batcher's own forward passes."""
    started = time.perf_counter()
    cache, logits = prefill(loaded.model, prompts, 0, loaded.device, adapters)
    prefill_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        logits = decode_step(loaded.model, cache, logits.argmax(dim=-1, keepdim=True), adapters)
    return prefill_s, (time.perf_counter() - started) / steps


def step_seconds(loaded: LoadedModel, batch: int, steps: int) -> float:
    """Mean seconds of one decoding step of `batch` base-model rows, after their prefill."""
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(batch)]
    prompts = [loaded.chat_prompt_ids([{"role": "user", "content": q}]) for q in questions]
    return prefill_and_step_seconds(loaded, prompts, [BASE_ADAPTER] * batch, steps)[1]


def matmul_flops_per_s(dtype: torch.dtype, rounds: int = 5) -> float:
    """The best FLOP rate of a CEILING_SHAPE matmul in `dtype` on torch's threads."""
    rows, inner, out = CEILING_SHAPE
    a, b = torch.randn(rows, inner, dtype=dtype), torch.randn(inner, out, dtype=dtype)
    best = math.inf
    for _ in range(rounds + 1):  # the first also builds the kernel
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * rows * inner * out / best


def decode_vs_ceiling(
    loaded: LoadedModel, tokens_per_s: dict[int, float], dtype: torch.dtype
) -> dict[str, Any]:
    """The peak decoding rate over BATCHES against matmul rate / (2 x parameters)."""
    params = sum(p.numel() for name, p in loaded.model.named_parameters() if "lora_" not in name)
    flops = matmul_flops_per_s(dtype)
    ceiling = flops / (2 * params)
    best = max(tokens_per_s, key=tokens_per_s.__getitem__)
    return {
        "parameters": params,
        "best_batch": best,
        "peak_decode_tokens_per_s": round(tokens_per_s[best], 1),
        "matmul_gflops": round(flops / 1e9, 1),
        "ceiling_tokens_per_s": round(ceiling, 1),
        "share_of_ceiling": round(tokens_per_s[best] / ceiling, 3),
        "target": CEILING_TARGET,
    }


def main(rounds: int, steps: int) -> dict[str, Any]:
    config = EngineConfig()
    torch.set_num_threads(config.torch_threads or os.cpu_count() or 1)
    models = {
        name: wrap_for_adapters(load_model(ModelSpec(name=BUNDLED_MODEL, dtype=name), config))
        for name in DTYPES
    }
    timings: dict[tuple[int, str], list[float]] = {}
    started, stall = time.perf_counter(), cpu_stall_us()
    for _ in range(rounds + 1):  # the first round warms up and is dropped
        for batch in BATCHES:
            for name, loaded in models.items():
                timings.setdefault((batch, name), []).append(step_seconds(loaded, batch, steps))
    wall_s, stall_end = time.perf_counter() - started, cpu_stall_us()
    result: dict[str, Any] = {
        "cpu_native_bf16": cpu_has_native_bf16(),
        "load_average": os.getloadavg(),
        "cpu_stall": None
        if stall is None or stall_end is None
        else round((stall_end - stall) / 1e6 / wall_s, 2),
    }
    for batch in BATCHES:
        step_ms = {n: statistics.median(timings[(batch, n)][1:]) * 1000 for n in DTYPES}
        result[f"batch_{batch}"] = {
            **{f"{n}_step_ms": round(ms, 2) for n, ms in step_ms.items()},
            **{f"{n}_tokens_per_s": round(batch * 1000 / ms, 1) for n, ms in step_ms.items()},
            "bf16_speed_over_fp32": round(step_ms["float32"] / step_ms["bfloat16"], 2),
        }
    probe = matmul_seconds(list(DTYPES.values()))
    result["matmul_probe"] = {
        "shape": PROBE_SHAPE,
        **{f"{n}_ms": round(probe[d] * 1000, 3) for n, d in DTYPES.items()},
        "bf16_speed_over_fp32": round(probe[torch.float32] / probe[torch.bfloat16], 2),
    }
    result["decode_vs_matmul_ceiling"] = {
        n: decode_vs_ceiling(
            models[n],
            {b: b / statistics.median(timings[(b, n)][1:]) for b in BATCHES},
            DTYPES[n],
        )
        for n in DTYPES
    }
    result["auto_picks"] = str(pick_dtype("auto", torch.device("cpu")))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=16)
    args = parser.parse_args()
    write_result("cpu_dtype", main(args.rounds, args.steps))
