"""Tokens/s through HTTP with 16 concurrent clients over 8 student adapters, against a plain PEFT
service (one request at a time: `set_adapter` + `generate`), in one run.

    python -m bench.http_throughput [--requests 48] [--baseline-requests 16] [--max-tokens 32]

The whole graph (ingress, preprocessor, inference replica) runs on a local Ray cluster from the
local config, with 8 students' adapters published to a local adapter store. Every request has
its own prompt, so the response cache never answers. The baseline then runs in this process,
after the cluster is gone, on the very prompts the preprocessor builds for those requests, with
the same adapters, dtype and max_tokens; so does the ContinuousBatcher without Serve and HTTP,
on the gathered multi-LoRA forward the replicas serve with, which splits the gap to the target
between batching and the graph around it. Last, the served model's own costs on those prompts
(prefill and decoding step, one row alone against 16 in a mixed batch) give the speedup that
batching can reach here at all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ray
import torch
from ray import serve

from aivo.adapters import LocalAdapterStore
from aivo.config import AppConfig, load_serve_config, parse_config
from aivo.curriculum.pipeline import CurriculumPipeline
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.device import pick_device, pick_dtype
from aivo.engine.gathered_lora import gather_adapters
from aivo.engine.loader import LoadedModel, load_model
from aivo.engine.lora import (
    BASE_ADAPTER,
    PLACEHOLDER_ADAPTER,
    load_adapter,
    read_adapter,
    wrap_for_adapters,
)
from aivo.engine.prefix_cache import configured_prefix_cache
from aivo.engine.weight_first import load_for_serving
from aivo.schemas import GenerateRequest
from bench.batching import (
    ADAPTERS,
    CLIENTS,
    QUESTIONS,
    Job,
    add_adapters,
    batcher_serve,
    cpu_stall_us,
    peft_generate_serve,
    run_clients,
)
from bench.cpu_dtype import prefill_and_step_seconds
from bench.graph_overhead import CONFIG
from bench.loadgen import bearer, run_load, write_result
from deployments.builder import build_app
from support.ports import free_port


def request_body(i: int, max_tokens: int) -> dict[str, Any]:
    """Request i: its own prompt (a cache miss) and one of the 8 students."""
    return {
        "prompt": f"{QUESTIONS[i % len(QUESTIONS)]} (question {i})",
        "grade_level": "5",
        "subject": "science",
        "max_tokens": max_tokens,
        "student_id": f"student{i % ADAPTERS}",
    }


def bench_config(store: Path, dtype: str) -> AppConfig:
    """The local default with the bench's adapter store, one dtype for both sides, and the
    per-key limits lifted (this measures throughput; the limiter still counts every request)."""
    args = load_serve_config(CONFIG).model_dump(mode="json")
    args["engine"]["models"][0]["dtype"] = dtype
    args["storage"]["adapter_root"] = str(store)
    args["security"]["requests_per_minute"] = 10**9
    args["security"]["tokens_per_minute"] = 10**9
    return parse_config(args)


def publish_students(config: AppConfig, work: Path) -> dict[str, Path]:
    """8 random LoRA adapters published as student0..7; their folders by student id."""
    loaded = wrap_for_adapters(load_model(config.engine.models[0], config.engine))
    names = add_adapters(loaded, work / "adapters")
    store = LocalAdapterStore(Path(config.storage.adapter_root))
    folders = {f"student{i}": work / "adapters" / name for i, name in enumerate(names)}
    for student, folder in folders.items():
        store.publish(student, folder)
    return folders


def through_http(config: AppConfig, requests: int, max_tokens: int) -> dict[str, Any]:
    ray.init(include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(build_app(config), name="aivo", route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        assert config.security.dev_key_file is not None
        headers = bearer(config.security.dev_key_file)
        # warm-up: each student's adapter becomes resident (prompts unlike the measured ones)
        warm = asyncio.run(
            run_load(url, lambda i: request_body(-1 - i, 4), ADAPTERS, ADAPTERS, headers=headers)
        )
        if warm["errors"]:
            raise RuntimeError(f"the warm-up failed ({warm['errors_by_code']}): is the CPU busy?")
        started, stall = time.perf_counter(), cpu_stall_us()
        result = asyncio.run(
            run_load(url, lambda i: request_body(i, max_tokens), CLIENTS, requests, headers=headers)
        )
        result["cpu_stall"] = stall_share(stall, time.perf_counter() - started)
        result["load_average"] = os.getloadavg()
        return result
    finally:
        serve.shutdown()
        ray.shutdown()


def stall_share(stall_at_start: int | None, wall_s: float) -> float | None:
    stall_at_end = cpu_stall_us()
    if stall_at_start is None or stall_at_end is None:
        return None
    return round((stall_at_end - stall_at_start) / 1e6 / wall_s, 2)


async def in_process(
    config: AppConfig,
    folders: dict[str, Path],
    requests: int,
    baseline_requests: int,
    max_tokens: int,
) -> dict[str, Any]:
    """On the preprocessor's own prompts for the same requests: the baseline (PEFT set_adapter +
    generate, one request at a time), and the ContinuousBatcher on the gathered forward, as a
    replica serves, without Serve or HTTP (what the graph could reach if it cost nothing)."""
    torch.set_num_threads(config.engine.torch_threads or os.cpu_count() or 1)
    loaded = wrap_for_adapters(load_model(config.engine.models[0], config.engine))
    for student, folder in folders.items():
        load_adapter(loaded.model, read_adapter(folder), student)
    pipeline = CurriculumPipeline(config.curriculum)
    jobs, prepare_s = [], []
    for i in range(requests):
        body = request_body(i, max_tokens)
        started = time.perf_counter()
        prepared = pipeline.prepare(GenerateRequest.model_validate(body))
        prepare_s.append(time.perf_counter() - started)
        jobs.append(Job(loaded.chat_prompt_ids(prepared.messages), max_tokens, body["student_id"]))
    with ThreadPoolExecutor(max_workers=1) as worker:
        serve_one = peft_generate_serve(loaded, worker)
        await run_clients("peft warm-up", jobs[:1], serve_one, clients=1)
        baseline = await run_clients(
            "peft set_adapter+generate", jobs[:baseline_requests], serve_one
        )
    loaded.model.set_adapter(PLACEHOLDER_ADAPTER)
    served = gather_adapters(load_for_serving(config.engine.models[0], config.engine))
    for student, folder in folders.items():
        served.model.load_slot(student, read_adapter(folder))
    engine = config.engine
    batcher = ContinuousBatcher(  # as a replica builds it (deployments/inference.py)
        served,
        max_batch_size=engine.max_batch_size,
        batch_wait_ms=engine.batch_wait_ms,
        prefix_cache=configured_prefix_cache(engine, served.name),
    )
    try:
        batched = await run_clients("batcher in-process", jobs, batcher_serve(batcher))
    finally:
        batcher.close()
    return {
        "dtype": str(loaded.dtype),
        "model_costs": model_costs(served, jobs[:CLIENTS], max_tokens),
        "prompt_tokens_mean": round(statistics.fmean(len(j.prompt) for j in jobs), 1),
        "preprocess_ms_mean": round(statistics.fmean(prepare_s) * 1000, 1),
        "peft_set_adapter_generate": {"load_average": os.getloadavg(), **baseline.figures()},
        "batcher": {"load_average": os.getloadavg(), **batched.figures()},
    }


def model_costs(loaded: LoadedModel, jobs: list[Job], max_tokens: int) -> dict[str, float]:
    """Where the gap to the target comes from: prefill and decoding step of these prompts, one
    row with its adapter against all rows in one mixed batch (median of 3 after a warm-up), and
    the speedup they allow at `max_tokens` (prefill once, then max_tokens - 1 steps)."""
    prompts, adapters = [j.prompt for j in jobs], [j.adapter or BASE_ADAPTER for j in jobs]
    solo, batch = [], []
    for _ in range(4):
        solo.append(prefill_and_step_seconds(loaded, prompts[:1], adapters[:1], 8))
        batch.append(prefill_and_step_seconds(loaded, prompts, adapters, 8))
    solo_prefill, solo_step = (statistics.median(run[k] for run in solo[1:]) for k in (0, 1))
    batch_prefill, batch_step = (statistics.median(run[k] for run in batch[1:]) for k in (0, 1))
    rows, steps = len(jobs), max_tokens - 1
    return {
        "solo_prefill_ms": round(solo_prefill * 1000, 1),
        "solo_step_ms": round(solo_step * 1000, 1),
        f"batch_{rows}_prefill_ms": round(batch_prefill * 1000, 1),
        f"batch_{rows}_step_ms": round(batch_step * 1000, 1),
        "prefill_gain": round(rows * solo_prefill / batch_prefill, 2),
        "decode_gain": round(rows * solo_step / batch_step, 2),
        "speedup_these_costs_allow": round(
            rows * (solo_prefill + steps * solo_step) / (batch_prefill + steps * batch_step), 2
        ),
    }


def main(requests: int, baseline_requests: int, max_tokens: int, work: Path) -> dict[str, Any]:
    dtype = str(pick_dtype("auto", pick_device("auto"))).removeprefix("torch.")
    config = bench_config(work / "store", dtype)
    folders = publish_students(config, work)
    http = through_http(config, requests, max_tokens)
    print(f"{'http, 16 clients':>28}: {http}", flush=True)
    local = asyncio.run(in_process(config, folders, requests, baseline_requests, max_tokens))
    baseline_tps = local["peft_set_adapter_generate"]["tokens_per_s"]
    return {
        "dtype": dtype,
        "max_tokens": max_tokens,
        "clients": CLIENTS,
        "students": ADAPTERS,
        "cpu_count": os.cpu_count(),
        "http": http,
        **local,
        "speedup": round(http["generated_tokens_per_s"] / baseline_tps, 2),
        "target": 8.0,
        "http_over_batcher_in_process_target": 0.95,
        "batcher_in_process_over_baseline": round(
            local["batcher"]["tokens_per_s"] / baseline_tps, 2
        ),
        "http_over_batcher_in_process": round(
            http["generated_tokens_per_s"] / local["batcher"]["tokens_per_s"], 2
        ),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--baseline-requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aivo-bench-") as work:
        result = main(args.requests, args.baseline_requests, args.max_tokens, Path(work))
    write_result("http_throughput", result)
