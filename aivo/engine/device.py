"""Device and dtype choice: CUDA, else MPS, else CPU; bf16 where the hardware runs it faster."""

from __future__ import annotations

import math
import time
from functools import cache

import torch

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# A decoding step's matmul: 16 rows of activations through a 1024 x 4096 projection.
PROBE_SHAPE = (16, 1024, 4096)
# bf16 must win clearly: it also costs precision (near-tie answers may depend on batch shape).
BF16_MIN_SPEEDUP = 1.2


def pick_device(requested: str = "auto") -> torch.device:
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@cache
def cpu_has_native_bf16() -> bool:
    """avx512_bf16 or AMX in /proc/cpuinfo; without them bf16 matmuls are emulated."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def matmul_seconds(dtypes: list[torch.dtype], rounds: int = 8) -> dict[torch.dtype, float]:
    """The fastest of `rounds` timings of a PROBE_SHAPE matmul per dtype, on one thread; the
    dtypes take turns, so other load on the machine weighs on each alike."""
    rows, inner, out = PROBE_SHAPE
    operands = {
        d: (torch.randn(rows, inner, dtype=d), torch.randn(inner, out, dtype=d)) for d in dtypes
    }
    best = dict.fromkeys(dtypes, math.inf)
    # One thread measures the core's arithmetic; with two, a busy neighbour process swung the
    # fp32/bf16 ratio between 0.4 and 2.1 on this 2-core machine (one thread: 0.58-0.76).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(rounds + 1):  # one more: the first round also builds the kernels
            for dtype, (a, b) in operands.items():
                started = time.perf_counter()
                torch.mm(a, b)
                best[dtype] = min(best[dtype], time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)
    return best


@cache
def cpu_runs_bf16_faster() -> bool:
    """Measured once per process (about 0.1 s): native bf16 is not always the faster one.

    With avx512_bf16 on both, an AMD EPYC ran bf16 matmuls ~4x faster than fp32 and an Intel Xeon
    ~1.3-2x slower (bench/cpu_dtype.py measures the bundled model's decoding steps).
    """
    if not cpu_has_native_bf16():
        return False
    seconds = matmul_seconds([torch.bfloat16, torch.float32])
    return seconds[torch.float32] > BF16_MIN_SPEEDUP * seconds[torch.bfloat16]


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    if requested != "auto":
        return _DTYPES[requested]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_runs_bf16_faster() else torch.float32
