"""Autoscaling, shown: load makes Serve add inference replicas, and quiet takes them away.

    python -m bench.autoscaling [--clients 12] [--hold-s 10]

The local graph runs on a local Ray cluster (fractional CPUs) with the inference deployment
autoscaled from 1 to 2 replicas on ongoing requests. Phases: `idle` (no load), `load` (N
concurrent clients send distinct requests, every one a cache miss), `cooldown` (one client
keeps sending, below the target, so Serve removes a replica while requests still arrive). The
load lasts until the second replica runs and `--hold-s` more, so both serve under load.
Every second it prints the running (and starting) replicas against the requests in flight; the
report says when each scaling move happened and what every request got (answered, failed by
status, or lost: no answer at all).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import DEFAULT_BODY, error_key, write_result

APP = "aivo"
DEPLOYMENT = "InferenceReplica"
CLIENT_TIMEOUT_S = 120.0
# Scale on ongoing requests per replica: past 2 for 2 s add one, under it for 10 s remove one.
AUTOSCALING = {
    "min_replicas": 1,
    "max_replicas": 2,
    "target_ongoing_requests": 2,
    "upscale_delay_s": 2,
    "downscale_delay_s": 10,
}


def autoscaling_config(adapter_root: Path, keys_file: Path) -> dict[str, Any]:
    """The local default's shape, the inference deployment autoscaled, one torch thread per
    replica so two replicas share the machine's cores instead of fighting over them."""
    return {
        "engine": {"torch_threads": 1},
        "storage": {"adapter_root": str(adapter_root)},
        "security": {"api_keys_file": str(keys_file), "requests_per_minute": 100_000},
        "deployments": {
            "ingress": {"num_cpus": 0.1},
            "preprocessor": {"num_cpus": 0.1},
            "inference": {"num_cpus": 0.5, "autoscaling_config": AUTOSCALING},
            "clone_coordinator": {"num_cpus": 0.05},
        },
    }


def replica_states() -> dict[str, int]:
    from ray import serve

    application = serve.status().applications[APP]
    return {str(k): int(v) for k, v in application.deployments[DEPLOYMENT].replica_states.items()}


@dataclass
class Run:
    started: float = field(default_factory=time.monotonic)
    phase: str = "idle"
    in_flight: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # by phase and result
    timeline: list[dict[str, Any]] = field(default_factory=list)
    scaled_up: asyncio.Event = field(default_factory=asyncio.Event)  # at max under load
    scaled_down: asyncio.Event = field(default_factory=asyncio.Event)  # back to min in cooldown

    def at(self) -> float:
        return round(time.monotonic() - self.started, 1)


async def client(http: httpx.AsyncClient, run: Run, name: str, until: asyncio.Event) -> None:
    i = 0
    while not until.is_set():
        i += 1
        body = DEFAULT_BODY | {"prompt": f"{DEFAULT_BODY['prompt']} ({name}-{i})", "max_tokens": 8}
        phase = run.phase
        run.in_flight += 1
        try:
            r = await http.post("/v1/generate", json=body)
            result = "answered" if r.status_code == 200 else f"failed {error_key(r)}"
        except httpx.HTTPError:
            result = "lost"
        finally:
            run.in_flight -= 1
        run.outcomes[f"{phase}: {result}"] += 1


async def watch(run: Run, stop: asyncio.Event) -> None:
    while not stop.is_set():
        states = await asyncio.to_thread(replica_states)
        replicas = states.get("RUNNING", 0)
        point = {"t_s": run.at(), "phase": run.phase, "replicas": replicas}
        point |= {"starting": states.get("STARTING", 0), "in_flight": run.in_flight}
        run.timeline.append(point)
        if run.phase == "load" and replicas == AUTOSCALING["max_replicas"]:
            run.scaled_up.set()
        if run.phase == "cooldown" and replicas == AUTOSCALING["min_replicas"]:
            run.scaled_down.set()
        print(point, flush=True)
        await asyncio.sleep(1.0)


def first(timeline: list[dict[str, Any]], phase: str, replicas: int) -> float | None:
    return next(
        (p["t_s"] for p in timeline if p["phase"] == phase and p["replicas"] == replicas), None
    )


async def run_autoscaling(
    url: str, headers: dict[str, str], clients: int, hold_s: float, limit_s: float = 180.0
) -> dict[str, Any]:
    """The three phases; each scaling move waits at most `limit_s`."""
    run = Run()
    stop_watch = asyncio.Event()
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=CLIENT_TIMEOUT_S, limits=limits
    ) as http:
        watcher = asyncio.create_task(watch(run, stop_watch))
        await asyncio.sleep(3)
        run.phase = "load"
        load_ends, trickle_ends = asyncio.Event(), asyncio.Event()
        trickle = asyncio.create_task(client(http, run, "c0", trickle_ends))
        load = [
            asyncio.create_task(client(http, run, f"c{n}", load_ends)) for n in range(1, clients)
        ]
        with contextlib.suppress(TimeoutError):  # the report says it never scaled up
            await asyncio.wait_for(run.scaled_up.wait(), limit_s)
        await asyncio.sleep(hold_s)
        load_ends.set()
        await asyncio.gather(*load)
        run.phase = "cooldown"
        with contextlib.suppress(TimeoutError):  # the report says it never scaled down
            await asyncio.wait_for(run.scaled_down.wait(), limit_s)
        await asyncio.sleep(3)  # the trickle keeps running past the scale-down
        trickle_ends.set()
        await trickle
        stop_watch.set()
        await watcher
    timeline = run.timeline
    return {
        "autoscaling_config": AUTOSCALING,
        "clients": clients,
        "hold_s": hold_s,
        "load_started_at_s": next(p["t_s"] for p in timeline if p["phase"] == "load"),
        "max_replicas_under_load": max(p["replicas"] for p in timeline if p["phase"] == "load"),
        "replicas_at_end": timeline[-1]["replicas"],
        "scaled_up_at_s": first(timeline, "load", AUTOSCALING["max_replicas"]),
        "load_ended_at_s": next(p["t_s"] for p in timeline if p["phase"] == "cooldown"),
        "scaled_down_at_s": first(timeline, "cooldown", 1),
        "requests": dict(sorted(run.outcomes.items())),
        "timeline": timeline,
    }


def main() -> None:
    import ray
    from ray import serve

    from aivo.config import parse_config
    from deployments.builder import build_app
    from support.keys import make_keys
    from support.ports import free_port
    from support.serving import wait_ready

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=12, help="concurrent clients under load")
    parser.add_argument("--hold-s", type=float, default=10.0, help="load kept on 2 replicas")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="aivo-bench-autoscaling-"))
    keys = make_keys(workdir)
    port = free_port()
    ray.init(num_cpus=2, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        config = parse_config(autoscaling_config(workdir / "adapters", keys.file))
        serve.run(build_app(config), name=APP, route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url) as ready:
            wait_ready(ready)
        report = asyncio.run(run_autoscaling(url, keys.header(keys.app), args.clients, args.hold_s))
    finally:
        serve.shutdown()
        ray.shutdown()
    write_result("autoscaling", report)


if __name__ == "__main__":
    main()
