"""A short table of bench.batching results, one block per result file: tokens/s and time to first
token of the batcher (gathered and PEFT LoRA forwards) against PEFT one request at a time and
PEFT `generate` with static batches, on the same prompts.

    python -m bench.gpu_table bench/results/batching-cuda-bf16.json [...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROWS = {  # label -> key in result["batcher_vs_peft_generate"]
    "batcher, gathered LoRA": "gathered",
    "batcher, PEFT LoRA": "peft",
    "PEFT generate, static batch": "peft_generate_static_batch",
    "PEFT one at a time": "peft_set_adapter_generate",
}


def table(result: dict[str, Any]) -> str:
    runs = result["batcher_vs_peft_generate"]
    alone = runs["peft_set_adapter_generate"]["tokens_per_s"]
    title = f"{result['device']} {result['dtype']} {result['quantization']}".replace("torch.", "")
    header = f"{'16 clients, 8 adapters':<30}{'tokens/s':>10}{'x one-at-a-time':>17}"
    lines = [title, f"  {header}{'ttft p50 ms':>13}"]
    for label, key in ROWS.items():
        run = runs[key]
        lines.append(
            f"  {label:<30}{run['tokens_per_s']:>10.1f}"
            f"{run['tokens_per_s'] / alone:>17.2f}{run['ttft_p50_ms']:>13.1f}"
        )
    mixed, many = result["mixed_vs_base_only"], result["many_students_vs_8"]
    for kind in ("gathered", "peft"):
        lines.append(
            f"  {kind}: mixed/base-only {mixed[kind]['ratio']:.2f} (target {mixed['target']}), "
            f"{many['students']} students/8 {many[kind]['ratio']:.2f} (target {many['target']})"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    args = parser.parse_args()
    print("\n\n".join(table(json.loads(path.read_text())) for path in args.results))
