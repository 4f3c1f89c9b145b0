"""Trust under pressure, with real processes: a key's stream cap, and faults under load.

The inference replica's and the preprocessor's processes are SIGKILLed and the Redis server is
SIGKILLed (then started again by its supervisor, here the test) while clients send requests.
Every request gets an answer or a clear retryable error, few fail, and the service is fully
healthy again without a hand on it. `python -m bench.faults` runs the same with a baseline and
more requests and writes the figures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from ray import serve

from aivo.config import parse_config
from bench.faults import faults_config, run_faults
from deployments.builder import build_app
from support.redis_server import RedisServer
from support.serving import wait_ready

pytestmark = pytest.mark.slow

APP = "faults"
RATE_PER_S = 1.0
REQUESTS_PER_FAULT = 30
MAX_FAILED_SHARE = 0.2
MAX_RECOVERY_S = 90.0
LONG_ANSWER = {
    "prompt": "Tell me a long story about a dragon who learns to count, with many chapters.",
    "grade_level": "3",
    "subject": "math",
    "max_tokens": 512,
    "stream": True,
}


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def url(  # type: ignore[no-untyped-def]
    serve_port: int, redis: RedisServer, tmp_path_factory: pytest.TempPathFactory, api_keys
) -> Iterator[str]:
    args = faults_config(redis.url, tmp_path_factory.mktemp("adapters"), api_keys.file)
    args["security"]["max_concurrent_streams"] = 1
    serve.run(build_app(parse_config(args)), name=APP, route_prefix=f"/{APP}")
    url = f"http://127.0.0.1:{serve_port}/{APP}"
    with httpx.Client(base_url=url, timeout=120) as client:
        assert wait_ready(client).status_code == 200
    yield url
    serve.delete(APP)


def test_a_tenant_holds_at_most_its_cap_of_open_streams(url: str, api_keys) -> None:  # type: ignore[no-untyped-def]
    app, ops = api_keys.header(api_keys.app), api_keys.header(api_keys.other)
    with httpx.Client(base_url=url, timeout=120) as client:
        with client.stream("POST", "/v1/generate", json=LONG_ANSWER, headers=app) as first:
            assert first.status_code == 200
            # the first stream counts from its headers on, while it still generates
            second = client.post("/v1/generate", json=LONG_ANSWER, headers=app)
            assert second.status_code == 429, second.text
            assert second.json()["error"]["code"] == "rate_limited"
            assert int(second.headers["Retry-After"]) >= 1
            other_key = client.post(  # the cap is per tenant: another tenant's key is not held
                "/v1/generate", json={**LONG_ANSWER, "max_tokens": 4}, headers=ops
            )
            assert other_key.status_code == 200, other_key.text
        # the client hung up: its slot comes back once the server notices
        deadline = time.monotonic() + 60
        while True:
            again = client.post("/v1/generate", json={**LONG_ANSWER, "max_tokens": 4}, headers=app)
            if again.status_code != 429 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert again.status_code == 200, again.text
        assert "event: done" in again.text


def test_killing_a_replica_the_preprocessor_or_redis_loses_no_request(  # type: ignore[no-untyped-def]
    url: str, redis: RedisServer, api_keys
) -> None:
    report = asyncio.run(
        run_faults(
            url,
            api_keys.header(api_keys.app),
            APP,
            redis,
            RATE_PER_S,
            REQUESTS_PER_FAULT,
            ["inference", "preprocessor", "redis"],
        )
    )
    for run in report["faults"]:  # each run's figures are printed by run_faults
        assert run["sent"] >= REQUESTS_PER_FAULT
        assert run["lost"] == 0, run  # nothing unanswered
        assert run["failed_unclear"] == 0, run  # every failure a 503/504/429 with the error shape
        assert run["failed_share"] <= MAX_FAILED_SHARE, run
        assert run["recovery_s"] is not None and run["recovery_s"] <= MAX_RECOVERY_S, run
