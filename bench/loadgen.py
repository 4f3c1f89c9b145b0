"""An asyncio load generator: N concurrent clients send a fixed number of requests over HTTP.

python -m bench.loadgen --url http://127.0.0.1:8000 --concurrency 8 --requests 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_BODY = {
    "prompt": "Why do cats purr?",  # no key idea's: the model answers
    "grade_level": "5",
    "subject": "science",
    "max_tokens": 32,
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarise(
    latencies_s: list[float], tokens: int, errors: dict[str, int], wall_s: float
) -> dict[str, Any]:
    ms = [x * 1000 for x in latencies_s] or [float("nan")]
    return {
        "requests": len(latencies_s) + sum(errors.values()),
        "errors": sum(errors.values()),
        "errors_by_code": errors,
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "requests_per_s": round(len(latencies_s) / wall_s, 2),
        "generated_tokens_per_s": round(tokens / wall_s, 2),
        "wall_s": round(wall_s, 3),
    }


async def run_load(
    url: str,
    body_for: Callable[[int], dict[str, Any]],
    concurrency: int,
    total: int,
    path: str = "/v1/generate",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Send `total` requests from `concurrency` clients; request i carries body_for(i)."""
    latencies: list[float] = []
    tokens = 0
    errors: dict[str, int] = {}  # the error code of each failed answer, counted
    next_index = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal tokens, errors, next_index
        while next_index < total:
            i, next_index = next_index, next_index + 1
            started = time.perf_counter()
            r = await client.post(path, json=body_for(i))
            if r.status_code == 200:
                latencies.append(time.perf_counter() - started)
                tokens += r.json().get("usage", {}).get("completion_tokens", 0)
            else:
                key = error_key(r)
                errors[key] = errors.get(key, 0) + 1

    async with httpx.AsyncClient(
        base_url=url, timeout=300, limits=limits, headers=headers
    ) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return summarise(latencies, tokens, errors, wall)


def error_key(response: httpx.Response) -> str:
    """A failed answer's status and error code, e.g. `504 generation_timeout`."""
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = ""
    return f"{response.status_code} {code}".strip()


def bearer(token_file: Path) -> dict[str, str]:
    """The Authorization header for the key in `token_file` (e.g. the development key)."""
    return {"Authorization": f"Bearer {token_file.read_text(encoding='utf-8').strip()}"}


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {path}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--key-file", type=Path, default=Path("var/dev-api-key"))
    args = parser.parse_args()
    body = {**DEFAULT_BODY, "max_tokens": args.max_tokens}
    result = asyncio.run(
        run_load(
            args.url, lambda _: body, args.concurrency, args.requests, headers=bearer(args.key_file)
        )
    )
    write_result("loadgen", {"concurrency": args.concurrency, **result})


if __name__ == "__main__":
    main()
