"""Cache hits through the whole HTTP graph against a bare Ray Serve FastAPI echo app, in one run.

    python -m bench.cache_hits [--requests 300] [--backend inprocess|redis|both]

Figures: hit p50/p99 over echo p50/p99 (sequential), hit requests/s over echo requests/s at 32
concurrent clients, and a miss's latency over a hit's for the same request.
"""

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import ray
from fastapi import FastAPI, Request
from ray import serve

from aivo.config import AppConfig, load_serve_config, parse_config
from bench.graph_overhead import CONFIG
from bench.loadgen import bearer, run_load, write_result
from deployments.builder import build_app
from support.ports import free_port

HIT = {
    "prompt": "Why do cats purr?",  # no key idea's: a miss is the model's answer
    "grade_level": "6",
    "subject": "science",
    "max_tokens": 32,
}


def echo_app() -> Any:
    api = FastAPI()

    @serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=256)
    @serve.ingress(api)
    class Echo:
        @api.post("/v1/generate")
        async def echo(
            self, request: Request
        ) -> dict[str, Any]:  # no future import: FastAPI reads this
            return dict(await request.json())

    return Echo.bind()


def aivo_config(redis_url: str | None) -> AppConfig:
    """The local default, with Redis when given; the rate limit is lifted since this measures
    throughput (the limiter itself still counts every request)."""
    args = load_serve_config(CONFIG).model_dump(mode="json")
    args["cache"]["redis_url"] = redis_url
    args["security"]["requests_per_minute"] = 10**9
    return parse_config(args)


async def measure(url: str, requests: int, headers: dict[str, str]) -> dict[str, Any]:
    sequential = await run_load(url, lambda _: HIT, 1, requests, headers=headers)
    concurrent = await run_load(url, lambda _: HIT, 32, requests * 3, headers=headers)
    return {"sequential": sequential, "concurrent_32": concurrent}


async def miss_vs_hit(url: str, rounds: int, headers: dict[str, str]) -> dict[str, float]:
    misses, hits = [], []
    for i in range(rounds):
        body = {**HIT, "prompt": f"Why do cats purr? (variant {i})"}
        misses.append((await run_load(url, lambda _, b=body: b, 1, 1, headers=headers))["p50_ms"])
        hits.append((await run_load(url, lambda _, b=body: b, 1, 1, headers=headers))["p50_ms"])
    miss, hit = sorted(misses)[rounds // 2], sorted(hits)[rounds // 2]
    return {"miss_p50_ms": miss, "hit_p50_ms": hit, "miss_over_hit": round(miss / hit, 1)}


def run_backend(port: int, redis_url: str | None, requests: int) -> dict[str, Any]:
    config = aivo_config(redis_url)
    serve.run(build_app(config), name="aivo", route_prefix="/")
    url = f"http://127.0.0.1:{port}"
    assert config.security.dev_key_file is not None
    headers = bearer(config.security.dev_key_file)
    asyncio.run(run_load(url, lambda _: HIT, 1, 2, headers=headers))  # the first fills the cache
    result = asyncio.run(measure(url, requests, headers))
    result["miss_vs_hit"] = asyncio.run(miss_vs_hit(url, 5, headers))
    serve.delete("aivo")
    return result


def ratios(aivo: dict[str, Any], echo: dict[str, Any]) -> dict[str, float]:
    s, e = aivo["sequential"], echo["sequential"]
    return {
        "hit_p50_over_echo": round(s["p50_ms"] / e["p50_ms"], 3),
        "hit_p99_over_echo": round(s["p99_ms"] / e["p99_ms"], 3),
        "hit_rps_32_over_echo": round(
            aivo["concurrent_32"]["requests_per_s"] / echo["concurrent_32"]["requests_per_s"], 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--backend", choices=["inprocess", "redis", "both"], default="both")
    args = parser.parse_args()

    ray.init(include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    redis = None
    try:
        serve.run(echo_app(), name="echo", route_prefix="/echo")
        echo = asyncio.run(measure(f"http://127.0.0.1:{port}/echo", args.requests, {}))
        serve.delete("echo")
        report: dict[str, Any] = {"echo": echo}
        if args.backend in ("inprocess", "both"):
            report["inprocess"] = run_backend(port, None, args.requests)
            report["inprocess"]["ratios"] = ratios(report["inprocess"], echo)
        if args.backend in ("redis", "both"):
            from support.redis_server import RedisServer

            redis = RedisServer(Path(tempfile.mkdtemp(prefix="aivo-bench-redis-")))
            redis.start()
            report["redis"] = run_backend(port, redis.url, args.requests)
            report["redis"]["ratios"] = ratios(report["redis"], echo)
    finally:
        if redis is not None:
            redis.kill()
        serve.shutdown()
        ray.shutdown()
    write_result("cache_hits", report)


if __name__ == "__main__":
    main()
