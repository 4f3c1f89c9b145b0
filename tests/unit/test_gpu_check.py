"""bench/gpu_check.sh: without CUDA it stops at once with a clear message; every Python piece
it calls (bench.batching with its device, dtype and nf4 flags, then bench.gpu_table) runs on CPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_the_check_fails_cleanly() -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", "bench/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "torch sees no CUDA device" in done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_checks_bench_and_table_run_on_cpu() -> None:
    """The gpu_check bench in its nf4 form, shrunk to a few tokens, questions and students; its
    compute dtype is the one `auto` picks here (at 16 questions, bf16 on a CPU without fast bf16
    took 369 s, fp32 95 s)."""
    name = f"smoke-{os.getpid()}"
    bench = [
        *("--device", "cpu", "--dtype", "auto", "--quantization", "nf4"),
        *("--max-tokens", "2", "--students", "12", "--lru", "4", "--per-run", "4"),
        *("--questions", "4"),
        *("--result-name", name),
    ]
    subprocess.run([sys.executable, "-m", "bench.batching", *bench], cwd=ROOT, check=True)
    result = ROOT / "bench" / "results" / f"{name}.json"
    try:
        table = subprocess.run(
            [sys.executable, "-m", "bench.gpu_table", str(result)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        result.unlink(missing_ok=True)
    assert re.match(r"cpu (float32|bfloat16) nf4\n", table), table
    for label in ("gathered LoRA", "PEFT LoRA", "static batch", "one at a time", "students/8"):
        assert label in table
