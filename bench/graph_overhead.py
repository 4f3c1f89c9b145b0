"""The graph's overhead: one request through HTTP and every deployment, against the same
generation called in-process, in one run (as a ratio and in milliseconds).

    python bench/graph_overhead.py [--requests 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

import ray
import torch
from ray import serve

from aivo.config import load_serve_config
from aivo.curriculum.pipeline import CurriculumPipeline
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.loader import load_model
from aivo.engine.lora import wrap_for_adapters
from aivo.engine.sampling import request_params
from aivo.schemas import GenerateRequest
from bench.loadgen import DEFAULT_BODY, bearer, run_load, write_result
from deployments.builder import build_app
from support.ports import free_port

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "serve.yaml"


def variant(i: int) -> dict[str, Any]:
    """Request i: each differs, so the response cache never answers and the graph is measured."""
    return {**DEFAULT_BODY, "prompt": f"{DEFAULT_BODY['prompt']} ({i})"}


async def in_process_ms(requests: int) -> tuple[float, int]:
    """Median latency of prepare + generate + finish in this process: the same pipeline, model
    and batcher the deployments use, without Serve, HTTP or process hops."""
    config = load_serve_config(CONFIG)
    torch.set_num_threads(config.engine.torch_threads or os.cpu_count() or 1)
    loaded = wrap_for_adapters(load_model(config.engine.models[0], config.engine))
    batcher = ContinuousBatcher(loaded, batch_wait_ms=config.engine.batch_wait_ms)
    pipeline = CurriculumPipeline(config.curriculum)
    times, tokens = [], 0
    try:
        for i in range(requests + 1):  # the first is a warm-up
            request = GenerateRequest.model_validate(variant(i))
            started = time.perf_counter()
            prepared = pipeline.prepare(request)
            prompt_ids = loaded.chat_prompt_ids(prepared.messages)
            stream = batcher.submit(prompt_ids, request_params(request, config.engine))
            completion = await stream.result()
            pipeline.finish(request, completion.text)
            times.append((time.perf_counter() - started) * 1000)
            tokens = completion.completion_tokens
    finally:
        batcher.close()
    return statistics.median(times[1:]), tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()

    ray.init(include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        config = load_serve_config(CONFIG)
        serve.run(build_app(config), name="aivo", route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        assert config.security.dev_key_file is not None
        headers = bearer(config.security.dev_key_file)
        asyncio.run(run_load(url, variant, 1, 1, headers=headers))  # warm-up
        graph = asyncio.run(run_load(url, variant, 1, args.requests, headers=headers))
    finally:
        serve.shutdown()
        ray.shutdown()
    local_ms, tokens = asyncio.run(in_process_ms(args.requests))
    write_result(
        "graph_overhead",
        {
            "requests": args.requests,
            "completion_tokens_per_request": tokens,
            "graph_p50_ms": graph["p50_ms"],
            "in_process_p50_ms": round(local_ms, 2),
            "overhead_ms": round(graph["p50_ms"] - local_ms, 2),
            "graph_over_in_process": round(graph["p50_ms"] / local_ms, 3),
            "graph": graph,
        },
    )


if __name__ == "__main__":
    main()
