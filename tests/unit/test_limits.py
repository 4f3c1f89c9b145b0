"""Per-tenant rate limits, in-process and against a real redis-server."""

from __future__ import annotations

import asyncio

import pytest

from aivo.config import CacheConfig, SecurityConfig
from aivo.errors import RateLimited
from aivo.security.keys import Principal
from aivo.security.limits import RateLimiter
from support.redis_server import RedisServer

pytestmark = pytest.mark.anyio
APP = Principal("app", "school", frozenset({"generate"}))
SAME_SCHOOL = Principal("app-2", "school", frozenset({"generate"}))
OTHER = Principal("other", "district", frozenset({"generate"}))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["in-process", "redis"])
def cache_config(request: pytest.FixtureRequest) -> CacheConfig:
    if request.param == "in-process":
        return CacheConfig()
    server: RedisServer = request.getfixturevalue("redis_server")
    return CacheConfig(redis_url=server.url)


async def test_requests_over_the_limit_get_429_with_retry_after(cache_config: CacheConfig) -> None:
    limiter = RateLimiter(SecurityConfig(requests_per_minute=3), cache_config)
    for _ in range(3):
        await limiter.admit(APP)
    with pytest.raises(RateLimited) as caught:
        await limiter.admit(APP)
    assert caught.value.status == 429 and 0 < caught.value.retry_after_s <= 60  # type: ignore[operator]
    with pytest.raises(RateLimited):  # a tenant's keys share its limits
        await limiter.admit(SAME_SCHOOL)
    await limiter.admit(OTHER)  # and another tenant's are its own


async def test_tokens_are_reserved_at_admission_and_settled_for_what_was_used(
    cache_config: CacheConfig,
) -> None:
    limiter = RateLimiter(SecurityConfig(tokens_per_minute=100), cache_config)
    first = await limiter.admit(APP, 60)
    with pytest.raises(RateLimited, match="generated tokens"):
        await limiter.admit(APP, 60)  # 60 are held for the first: 120 would overshoot
    await first.settle(10)
    await first.settle(0)  # settles once
    second = await limiter.admit(APP, 60)
    await limiter.admit(APP, 30)
    with pytest.raises(RateLimited):
        await limiter.admit(APP, 1)
    await second.settle(100)  # charged at most what it reserved
    await limiter.admit(OTHER, 100)  # budgets are per key


async def test_concurrent_admissions_never_reserve_past_the_budget(
    cache_config: CacheConfig,
) -> None:
    limiter = RateLimiter(SecurityConfig(tokens_per_minute=100), cache_config)
    outcomes = await asyncio.gather(
        *(limiter.admit(APP, 30) for _ in range(12)), return_exceptions=True
    )
    admitted = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(admitted) == 3


async def test_redis_down_falls_back_to_counting_here(redis_server: RedisServer) -> None:
    limiter = RateLimiter(
        SecurityConfig(requests_per_minute=2),
        CacheConfig(redis_url=redis_server.url, breaker_failures=1),
    )
    redis_server.kill()
    await limiter.admit(APP)  # answered from the local counters, not refused
    await limiter.admit(APP)
    with pytest.raises(RateLimited):
        await limiter.admit(APP)
