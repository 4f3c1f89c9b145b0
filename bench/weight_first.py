"""Weight-first few-row products on against off, on one model in one run, in turns.

    python -m bench.weight_first [--max-tokens 32] [--requests 32] [--dtype auto]

Figures (the served path: the gathered multi-LoRA model, 8 adapters, in the dtype `auto` picks):
- the load-time probe's timings (`probe_ms`) and what a replica would choose from them
  (`auto_chose`);
- one decoding step at 1-32 rows, off against on (median of 8 steps, the best of 2 turns);
- the continuous batcher at 16 and at 2 concurrent clients (`--requests` requests of
  `--max-tokens` tokens over 8 adapters): tokens/s on over off, time to first token p50.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from aivo.config import BUNDLED_MODEL, EngineConfig
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.forward import decode_step, prefill
from aivo.engine.loader import LoadedModel
from aivo.engine.weight_first import (
    probe_seconds,
    set_weight_first,
    switchable_layers,
    weight_first_wins,
)
from bench.batching import ADAPTERS, QUESTIONS, Job, Run, batcher_serve, load_both, run_clients
from bench.loadgen import percentile, write_result

ROWS = (1, 2, 4, 8, 16, 32)


def step_ms(loaded: LoadedModel, prompt: list[int], rows: int, adapters: list[str]) -> float:
    """The median of 8 decoding steps of `rows` rows (each with its adapter) after a prefill."""
    names = [adapters[i % len(adapters)] for i in range(rows)]
    cache, _ = prefill(loaded.model, [prompt] * rows, 0, loaded.device, names)
    tokens = torch.full((rows, 1), 100, device=loaded.device)
    times = []
    for _ in range(10):
        started = time.perf_counter()
        decode_step(loaded.model, cache, tokens, names)
        times.append(time.perf_counter() - started)
    return statistics.median(times[2:]) * 1000


def figures(off: Run, on: Run) -> dict[str, Any]:
    return {
        "off": off.figures(),
        "on": on.figures(),
        "tokens_per_s_on_over_off": round(on.tokens_per_s / off.tokens_per_s, 2),
        "ttft_p50_off_over_on": round(
            percentile(off.ttft_s, 50) / max(percentile(on.ttft_s, 50), 1e-9), 2
        ),
    }


async def main(max_tokens: int, requests: int, dtype: str, work: Path) -> dict[str, Any]:
    torch.set_num_threads(os.cpu_count() or 1)
    config = EngineConfig.model_validate({"models": [{"name": BUNDLED_MODEL, "dtype": dtype}]})
    loaded, names = load_both(config, work)
    gathered = loaded["gathered"]
    layers = switchable_layers(gathered.model)
    probe = probe_seconds(layers)
    chose = weight_first_wins(probe)  # what a replica's probe would choose here
    result: dict[str, Any] = {
        "dtype": str(gathered.dtype),
        "cpu_count": os.cpu_count(),
        "switchable_layers": len(layers),
        "auto_chose": "on" if chose else "off",
        "probe_ms": {("on" if k else "off"): round(v * 1000, 1) for k, v in probe.items()},
    }
    prompt = gathered.chat_prompt_ids([{"role": "user", "content": QUESTIONS[0]}])
    steps: dict[int, dict[str, float]] = {rows: {} for rows in ROWS}
    for _ in range(2):
        for on in (False, True):
            set_weight_first(layers, on)
            for rows in ROWS:
                ms = step_ms(gathered, prompt, rows, names[:ADAPTERS])
                label = "on" if on else "off"
                steps[rows][label] = round(min(steps[rows].get(label, ms), ms), 1)
    for rows, pair in steps.items():
        pair["off_over_on"] = round(pair["off"] / pair["on"], 2)
        print(f"decoding step, {rows:>2} rows: {pair}", flush=True)
    result["decode_step_ms"] = steps

    prompts = [gathered.chat_prompt_ids([{"role": "user", "content": q}]) for q in QUESTIONS]
    jobs = [
        Job(prompts[i % len(prompts)], max_tokens, names[i % ADAPTERS]) for i in range(requests)
    ]
    batcher = ContinuousBatcher(gathered, max_batch_size=16, batch_wait_ms=5)
    serve = batcher_serve(batcher)
    try:
        await run_clients("warm-up", jobs[:4], serve)
        for clients in (16, 2):
            runs: dict[bool, list[Run]] = {False: [], True: []}
            for on in (False, True, False, True):
                set_weight_first(layers, on)
                label = f"{clients} clients, weight-first {'on' if on else 'off'}"
                runs[on].append(await run_clients(label, jobs, serve, clients))
            best = {on: max(r, key=lambda run: run.tokens_per_s) for on, r in runs.items()}
            result[f"batcher_{clients}_clients"] = figures(best[False], best[True])
    finally:
        batcher.close()
        set_weight_first(layers, chose)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aivo-bench-") as work:
        result = asyncio.run(main(args.max_tokens, args.requests, args.dtype, Path(work)))
    write_result("weight_first", result)
