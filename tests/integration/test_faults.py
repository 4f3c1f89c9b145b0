"""Faults under load, with real processes: the inference replica's and the preprocessor's
processes are SIGKILLed and the Redis server is SIGKILLed (then started again by its
supervisor, here the test) while clients send requests. Every request gets an answer or a clear
retryable error, few fail, and the service is fully healthy again without a hand on it.
`python -m bench.faults` runs the same with a baseline and more requests and writes the figures."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ray import serve

from aivo.config import parse_config
from bench.faults import faults_config, run_faults
from deployments.builder import build_app
from tests.fixtures.redis_server import RedisServer

pytestmark = pytest.mark.slow

APP = "faults"
RATE_PER_S = 1.0
REQUESTS_PER_FAULT = 30
MAX_FAILED_SHARE = 0.2
MAX_RECOVERY_S = 90.0


def test_killing_a_replica_the_preprocessor_or_redis_loses_no_request(  # type: ignore[no-untyped-def]
    serve_port: int, redis_server: RedisServer, tmp_path: Path, api_keys
) -> None:
    config = parse_config(faults_config(redis_server.url, tmp_path / "adapters", api_keys.file))
    serve.run(build_app(config), name=APP, route_prefix=f"/{APP}")
    try:
        report = asyncio.run(
            run_faults(
                f"http://127.0.0.1:{serve_port}/{APP}",
                api_keys.header(api_keys.app),
                APP,
                redis_server,
                RATE_PER_S,
                REQUESTS_PER_FAULT,
                ["inference", "preprocessor", "redis"],
            )
        )
    finally:
        serve.delete(APP)
    for run in report["faults"]:  # each run's figures are printed by run_faults
        assert run["sent"] >= REQUESTS_PER_FAULT
        assert run["lost"] == 0, run  # nothing unanswered
        assert run["failed_unclear"] == 0, run  # every failure a 503/504/429 with the error shape
        assert run["failed_share"] <= MAX_FAILED_SHARE, run
        assert run["recovery_s"] is not None and run["recovery_s"] <= MAX_RECOVERY_S, run
