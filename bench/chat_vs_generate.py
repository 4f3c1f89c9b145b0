"""Streamed tokens/s and time to first token: the OpenAI chat route against /v1/generate.

Both at 16 concurrent clients, on the same questions, in one run.

    python -m bench.chat_vs_generate [--requests 48] [--max-tokens 32] [--rounds 2]

The whole graph runs on a local Ray cluster from the local config (per-key limits lifted). Each
round streams `--requests` requests through each route, in alternating order; every request has
its own question number, so the response cache never answers and both routes do the same
work. The target: the chat route at >= 0.95x the generate route's tokens/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import ray
from ray import serve

from aivo.config import AppConfig, parse_config
from aivo.engine.device import pick_device, pick_dtype
from bench.batching import CLIENTS, QUESTIONS, Run, run_clients
from bench.http_throughput import bench_config
from bench.loadgen import bearer, write_result
from deployments.builder import build_app
from support.ports import free_port

TUTORING = {"grade_level": "5", "subject": "science"}
ROUTES = ("generate", "chat")
Stream = Callable[[int], Awaitable[tuple[float, int]]]


def question(i: int) -> str:
    return f"{QUESTIONS[i % len(QUESTIONS)]} (question {i})"


def generate_stream(client: httpx.AsyncClient, max_tokens: int) -> Stream:
    """`/v1/generate` with `stream: true`: the first `chunk` event with text is the first token;
    the `done` event carries the usage."""

    async def send(i: int) -> tuple[float, int]:
        body = {"prompt": question(i), "max_tokens": max_tokens, "stream": True, **TUTORING}
        started, first, tokens = time.perf_counter(), None, 0
        async with client.stream("POST", "/v1/generate", json=body) as response:
            response.raise_for_status()
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                    if event == "chunk" and data["text"] and first is None:
                        first = time.perf_counter() - started
                    elif event == "done":
                        tokens = data["usage"]["completion_tokens"]
                    elif event == "error":
                        raise RuntimeError(data["error"]["code"])
        return first or time.perf_counter() - started, tokens

    return send


def chat_stream(client: httpx.AsyncClient, max_tokens: int) -> Stream:
    """`/v1/chat/completions` with `stream: true` and usage: the first chunk with content is the
    first token; the usage chunk before `[DONE]` carries the usage."""

    async def send(i: int) -> tuple[float, int]:
        body = {
            "model": "aivo-tutor",
            "messages": [{"role": "user", "content": question(i)}],
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "aivo": TUTORING,
        }
        started, first, tokens = time.perf_counter(), None, 0
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                data = json.loads(line.removeprefix("data: "))
                if "error" in data:
                    raise RuntimeError(data["error"]["code"])
                content = data["choices"][0]["delta"].get("content") if data["choices"] else None
                if content and first is None:
                    first = time.perf_counter() - started
                if data.get("usage"):
                    tokens = data["usage"]["completion_tokens"]
        return first or time.perf_counter() - started, tokens

    return send


def bench_app_config(work: Path) -> AppConfig:
    """The local default with limits lifted, and room for every client's stream on one key."""
    dtype = str(pick_dtype("auto", pick_device("auto"))).removeprefix("torch.")
    args = bench_config(work / "store", dtype).model_dump(mode="json")
    args["security"]["max_concurrent_streams"] = CLIENTS
    # 16 streams share 2 cores: a stream's wait in the batch is not what this measures
    args["engine"]["request_timeout_s"] = 600
    return parse_config(args)


async def compare(url: str, headers: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=url, timeout=600, limits=limits, headers=headers
    ) as client:
        streams = {
            "generate": generate_stream(client, args.max_tokens),
            "chat": chat_stream(client, args.max_tokens),
        }
        for route in ROUTES:  # warm-up: questions unlike the measured ones
            await run_clients(f"{route} warm-up", list(range(-CLIENTS, 0)), streams[route])
        runs: dict[str, list[Run]] = {route: [] for route in ROUTES}
        first_index = 0
        for r in range(args.rounds):
            for route in ROUTES if r % 2 == 0 else ROUTES[::-1]:
                jobs = list(range(first_index, first_index + args.requests))
                first_index += args.requests
                runs[route].append(await run_clients(f"{route} round {r}", jobs, streams[route]))
    figures = {route: combined(runs[route]) for route in ROUTES}
    return {
        **figures,
        "chat_over_generate_tokens_per_s": round(
            figures["chat"]["tokens_per_s"] / figures["generate"]["tokens_per_s"], 3
        ),
        "chat_over_generate_ttft_p50": round(
            figures["chat"]["ttft_p50_ms"] / figures["generate"]["ttft_p50_ms"], 3
        ),
        "target_tokens_per_s_ratio": 0.95,
    }


def combined(runs: list[Run]) -> dict[str, Any]:
    """The rounds of one route as one run (tokens and wall time summed, every TTFT)."""
    stalls = [run.cpu_stall for run in runs if run.cpu_stall is not None]
    total = Run(
        tokens=sum(run.tokens for run in runs),
        wall_s=sum(run.wall_s for run in runs),
        ttft_s=[t for run in runs for t in run.ttft_s],
        cpu_stall=max(stalls) if stalls else None,
    )
    return {**total.figures(), "rounds_tokens_per_s": [round(r.tokens_per_s, 1) for r in runs]}


def main(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    config = bench_app_config(work)
    ray.init(include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(build_app(config), name="aivo", route_prefix="/")
        assert config.security.dev_key_file is not None
        headers = bearer(config.security.dev_key_file)
        result = asyncio.run(compare(f"http://127.0.0.1:{port}", headers, args))
    finally:
        serve.shutdown()
        ray.shutdown()
    return {
        "clients": CLIENTS,
        "requests_per_round": args.requests,
        "rounds": args.rounds,
        "max_tokens": args.max_tokens,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        **result,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48, help="per route and round")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="alternating the routes' order")
    with tempfile.TemporaryDirectory(prefix="aivo-bench-") as folder:
        write_result("chat_vs_generate", main(parser.parse_args(), Path(folder)))
