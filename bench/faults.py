"""Faults under load: kill one part of the graph while clients run, and count what they got.

    python -m bench.faults [--rate 4] [--requests 100]

The graph runs on a local Ray cluster with Redis as its response cache. A steady open-loop load
of distinct requests (cache misses, so every request crosses the whole graph) runs first with
nothing broken (the baseline), then once per fault, which strikes a quarter of the way in:
- `inference`: the inference replica's process is SIGKILLed;
- `preprocessor`: the curriculum preprocessor's process is SIGKILLed;
- `redis`: the Redis server is SIGKILLed and started again a few seconds later (its supervisor's
  job, not the service's).
Serve's controller replaces the killed replicas; nobody restarts anything by hand. Per fault:
requests sent, answered, failed with a clear retryable error (by status), unclear (a 5xx other
than 503/504, or no JSON error shape), lost (no answer at all before the client's timeout), and
the recovery time: from the fault until /ready is fully healthy again (the replica answers, the
cache is `ok`) and requests sent from then on are answered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import DEFAULT_BODY, percentile, write_result

CLIENT_TIMEOUT_S = 120.0
REDIS_DOWN_S = 5.0
READY_POLL_S = 0.25
RECOVERY_LIMIT_S = 120.0
FAULTS = ["none", "inference", "preprocessor", "redis"]


@dataclass
class Outcome:
    sent_at: float
    finished_at: float
    status: int  # 0: no answer before the client's timeout, or the connection broke
    code: str | None = None


@dataclass
class FaultRun:
    name: str
    retried_calls: int = 0  # calls the ingress retried after a replica died (its /metrics)
    fault_at: float = 0.0
    healed_at: float | None = None  # when the fault's own cause was removed (Redis restarted)
    outcomes: list[Outcome] = field(default_factory=list)
    ready: list[tuple[float, bool]] = field(default_factory=list)  # (time, fully healthy)

    def report(self) -> dict[str, Any]:
        statuses = Counter(o.status for o in self.outcomes)
        answered = statuses[200]
        retryable = sum(n for s, n in statuses.items() if s in (429, 503, 504))
        lost = statuses[0]
        unclear = len(self.outcomes) - answered - retryable - lost
        latencies = [o.finished_at - o.sent_at for o in self.outcomes if o.status == 200]
        recovered = self.recovered_at()
        return {
            "fault": self.name,
            "sent": len(self.outcomes),
            "answered": answered,
            "failed_retryable": retryable,
            "failed_unclear": unclear,
            "lost": lost,
            "failed_share": round((len(self.outcomes) - answered) / len(self.outcomes), 4),
            "retried_calls": self.retried_calls,
            "by_status": {str(s): n for s, n in sorted(statuses.items())},
            "error_codes": dict(Counter(o.code for o in self.outcomes if o.code)),
            "answer_p50_s": round(percentile(latencies, 50), 3) if latencies else None,
            "answer_max_s": round(max(latencies), 3) if latencies else None,
            "recovery_s": None if recovered is None else round(recovered - self.fault_at, 2),
            "healed_after_s": None
            if self.healed_at is None
            else round(self.healed_at - self.fault_at, 2),
        }

    def recovered_at(self) -> float | None:
        """The first moment after which /ready stayed fully healthy and every request sent
        was answered; None if that never happened within the run."""
        unhealthy = [t for t, healthy in self.ready if t >= self.fault_at and not healthy]
        healthy = [t for t, ok in self.ready if t >= self.fault_at and ok]
        failures = [o for o in self.outcomes if o.sent_at >= self.fault_at and o.status != 200]
        ready_at = min((t for t in healthy if not unhealthy or t > max(unhealthy)), default=None)
        if ready_at is None:
            return None
        last_failure_sent = max((o.sent_at for o in failures), default=self.fault_at)
        first_answer = min(
            (
                o.finished_at
                for o in self.outcomes
                if o.status == 200 and o.sent_at >= max(self.fault_at, last_failure_sent)
            ),
            default=None,
        )
        return None if first_answer is None else max(ready_at, first_answer)


def request_body(run: str, i: int) -> dict[str, Any]:
    """Each request differs, so none is a cache hit and every one crosses the whole graph."""
    return {**DEFAULT_BODY, "prompt": f"{DEFAULT_BODY['prompt']} ({run} {i})", "max_tokens": 8}


async def send(client: httpx.AsyncClient, body: dict[str, Any], run: FaultRun) -> None:
    sent_at = time.monotonic()
    try:
        r = await client.post("/v1/generate", json=body)
        status, code = r.status_code, None
        if status != 200:
            error = r.json().get("error") if _is_json(r) else None
            code = error.get("code") if isinstance(error, dict) else "no_error_shape"
            if code == "no_error_shape":
                status = 599  # counted as unclear whatever the status
    except httpx.HTTPError:
        status, code = 0, None
    run.outcomes.append(Outcome(sent_at, time.monotonic(), status, code))


def _is_json(r: httpx.Response) -> bool:
    return r.headers.get("content-type", "").startswith("application/json")


async def retried_calls(client: httpx.AsyncClient) -> int:
    """The ingress's count of calls retried after a crash, summed over deployments."""
    text = (await client.get("/metrics")).text
    found = re.findall(r"^aivo_upstream_retries_total\{[^}]*\} (\S+)$", text, re.M)
    return int(sum(float(value) for value in found))


async def healthy(client: httpx.AsyncClient) -> bool:
    try:
        r = await client.get("/ready", timeout=10)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.json().get("cache") in ("ok", "off")


async def under_fault(
    client: httpx.AsyncClient,
    name: str,
    fault: Callable[[FaultRun], Awaitable[None]],
    rate: float,
    requests: int,
) -> dict[str, Any]:
    """`requests` requests at `rate` per second; `fault` runs a quarter of the way in; then
    /ready is watched until it is fully healthy (or the limit passes)."""
    run = FaultRun(name)
    retries_before = await retried_calls(client)
    in_flight: set[asyncio.Task[None]] = set()
    watching = True

    async def watch_ready() -> None:
        while watching:
            run.ready.append((time.monotonic(), await healthy(client)))
            await asyncio.sleep(READY_POLL_S)

    watcher = asyncio.create_task(watch_ready())
    fault_task = None
    started = time.monotonic()
    for i in range(requests):
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        if i == requests // 4:
            run.fault_at = time.monotonic()
            fault_task = asyncio.create_task(fault(run))
        task = asyncio.create_task(send(client, request_body(name, i), run))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    assert fault_task is not None
    await fault_task
    deadline = run.fault_at + RECOVERY_LIMIT_S
    while run.recovered_at() is None and time.monotonic() < deadline:
        await send(client, request_body(name, len(run.outcomes)), run)
        await asyncio.sleep(READY_POLL_S)
    watching = False
    await watcher
    run.retried_calls = await retried_calls(client) - retries_before
    report = run.report()
    print(report)
    return report


def replica_pid(app: str, deployment: str) -> int:
    """The process of the deployment's one live replica (Ray's state API)."""
    import ray
    from ray.util.state import list_actors

    alive = list_actors(
        address=ray.get_runtime_context().gcs_address,  # this cluster's, even beside others
        filters=[("state", "=", "ALIVE")],
        limit=1000,
    )
    actors = [a for a in alive if a.class_name == f"ServeReplica:{app}:{deployment}"]
    if len(actors) != 1:
        raise RuntimeError(f"expected one live {deployment} replica, found {len(actors)}")
    return int(actors[0].pid)


async def no_fault(run: FaultRun) -> None:
    return None


def kill_replica(app: str, deployment: str) -> Callable[[FaultRun], Awaitable[None]]:
    async def fault(run: FaultRun) -> None:
        pid = await asyncio.to_thread(replica_pid, app, deployment)
        os.kill(pid, signal.SIGKILL)

    return fault


def kill_redis(server: Any) -> Callable[[FaultRun], Awaitable[None]]:
    """SIGKILL the Redis server, then start it again on the same port after REDIS_DOWN_S."""

    async def fault(run: FaultRun) -> None:
        server.kill()
        await asyncio.sleep(REDIS_DOWN_S)
        await asyncio.to_thread(server.start)
        run.healed_at = time.monotonic()

    return fault


async def run_faults(
    url: str,
    headers: dict[str, str],
    app: str,
    redis: Any,
    rate: float,
    requests: int,
    names: list[str] = FAULTS,
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=CLIENT_TIMEOUT_S, limits=limits
    ) as client:
        faults = {
            "none": no_fault,  # the baseline: the same load with nothing broken
            "inference": kill_replica(app, "InferenceReplica"),
            "preprocessor": kill_replica(app, "CurriculumPreprocessor"),
            "redis": kill_redis(redis),
        }
        runs = [await under_fault(client, name, faults[name], rate, requests) for name in names]
    return {"rate_per_s": rate, "requests_per_fault": requests, "faults": runs}


def faults_config(redis_url: str, adapter_root: Path, keys_file: Path) -> dict[str, Any]:
    """The local default's shape with Redis as the cache and a fast health check, so Serve
    notices a dead replica within a second."""
    fast_checks = {"health_check_period_s": 1.0}
    return {
        "cache": {"redis_url": redis_url, "breaker_failures": 2, "breaker_reset_s": 0.5},
        "storage": {"adapter_root": str(adapter_root)},
        "security": {"api_keys_file": str(keys_file), "requests_per_minute": 100_000},
        "deployments": {
            "ingress": {"num_cpus": 0.1},
            "preprocessor": {"num_cpus": 0.1, **fast_checks},
            "inference": {"num_cpus": 0.5, **fast_checks},
            "clone_coordinator": {"num_cpus": 0.05},
        },
    }


def main() -> None:
    from ray import serve

    from aivo.config import parse_config
    from deployments.builder import build_app
    from support.keys import make_keys
    from support.ray_cluster import serve_cluster
    from support.redis_server import RedisServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=4.0, help="requests per second")
    parser.add_argument("--requests", type=int, default=100, help="requests per fault")
    parser.add_argument("--faults", default=",".join(FAULTS), help="which, in order")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="aivo-bench-faults-"))
    redis = RedisServer(workdir)
    redis.start()
    keys = make_keys(workdir)
    try:
        with serve_cluster() as port:
            config = parse_config(faults_config(redis.url, workdir / "adapters", keys.file))
            serve.run(build_app(config), name="aivo", route_prefix="/")
            headers = keys.header(keys.app)
            report = asyncio.run(
                run_faults(
                    f"http://127.0.0.1:{port}",
                    headers,
                    "aivo",
                    redis,
                    args.rate,
                    args.requests,
                    args.faults.split(","),
                )
            )
    finally:
        redis.kill()
    write_result("faults", report)


if __name__ == "__main__":
    main()
