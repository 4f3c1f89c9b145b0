"""The response cache against real backends: one behavioural suite, run in process and on Redis.

Redis is a real redis-server on a loopback port; the resilience tests kill it, restart it on the
same port, pause it (a slow Redis) and fill it, and the cache must keep answering within bounds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from aivo.cache import (
    CacheAside,
    CachedAnswer,
    CacheUnavailable,
    RedisCache,
    ResponseCache,
    cache_key,
    make_cache,
)
from aivo.cache.redis_cache import INVALIDATION_CHANNEL
from aivo.config import CacheConfig
from aivo.observability import REGISTRY
from aivo.schemas import GenerateRequest
from aivo.tenancy import owned_id
from support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

BOUND_S = 1.0  # per call while Redis is down or slow: generous for a noisy 2-core machine


@dataclass
class Backend:
    name: str
    server: RedisServer | None

    def config(self, **overrides: Any) -> CacheConfig:
        if self.server is None:
            return CacheConfig(**overrides)
        hot = {"hot_entries": 8} if self.name == "redis+hot" else {}
        return CacheConfig(**{"redis_url": self.server.url, **hot, **overrides})


OpenCache = Callable[..., ResponseCache]


@pytest.fixture(params=["in_process", "redis", "redis+hot"])
def backend(request: pytest.FixtureRequest) -> Backend:
    server = None if request.param == "in_process" else request.getfixturevalue("redis_server")
    return Backend(request.param, server)


@pytest.fixture
async def open_cache(backend: Backend) -> AsyncIterator[OpenCache]:
    opened: list[ResponseCache] = []

    def open_(**overrides: Any) -> ResponseCache:
        opened.append(make_cache(backend.config(**overrides)))
        return opened[-1]

    yield open_
    for cache in opened:
        await cache.close()


OpenRedis = Callable[..., RedisCache]


@pytest.fixture
async def open_redis(redis_server: RedisServer) -> AsyncIterator[OpenRedis]:
    opened: list[RedisCache] = []

    def open_(**overrides: Any) -> RedisCache:
        opened.append(RedisCache(CacheConfig(redis_url=redis_server.url, **overrides)))
        return opened[-1]

    yield open_
    for cache in opened:
        await cache.close()


def question(
    prompt: str = "Why is the sky blue?", student_id: str | None = None
) -> GenerateRequest:
    return GenerateRequest(prompt=prompt, grade_level="4", subject="science", student_id=student_id)


def key_of(req: GenerateRequest, adapter: str | None = None, tenant: str = "school") -> str:
    return cache_key(req, tenant=tenant, model="bundled", prompt_version="p1", adapter=adapter)


def answer(text: str = "Sunlight scatters.") -> dict[str, Any]:
    return {"text": text, "model": "bundled", "fallback_used": False, "cached": False}


def events() -> dict[str, float]:
    return {
        event: REGISTRY.get_sample_value("aivo_cache_events_total", {"event": event}) or 0.0
        for event in ("hit", "miss", "error", "bypass")
    }


def delta(before: dict[str, float]) -> dict[str, float]:
    after = events()
    return {event: after[event] - before[event] for event in after if after[event] != before[event]}


async def timed(call: Awaitable[Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


# The shared behavioural suite ----------------------------------------------------------------


async def test_miss_then_hit(open_cache: OpenCache) -> None:
    cache = open_cache()
    key = key_of(question())
    before = events()
    assert await cache.get(key) is None
    await cache.set(key, answer())
    assert await cache.get(key) == answer()
    assert delta(before) == {"miss": 1, "hit": 1}
    assert cache.state == "ok"


async def test_entries_expire_after_their_ttl(open_cache: OpenCache) -> None:
    cache = open_cache(ttl_s=1)
    key = key_of(question())
    await cache.set(key, answer())
    assert await cache.get(key) == answer()
    await asyncio.sleep(1.2)
    assert await cache.get(key) is None


async def test_invalidating_a_student_leaves_other_entries(open_cache: OpenCache) -> None:
    cache = open_cache()
    alice = [key_of(question(p, "alice-smith")) for p in ("Why?", "How?")]
    others = [key_of(question("Why?", "bob-jones")), key_of(question("Why?"))]
    for key in alice + others:
        await cache.set(key, answer())
    assert await cache.invalidate_student(owned_id("school", "alice-smith")) == 2
    assert [await cache.get(key) for key in alice] == [None, None]
    assert [await cache.get(key) for key in others] == [answer(), answer()]


async def test_invalidating_a_tenant_leaves_other_tenants(open_cache: OpenCache) -> None:
    cache = open_cache()
    keys = [key_of(question("Why?", "alice-smith")), key_of(question("Why?"))]
    elsewhere = key_of(question("Why?", "alice-smith"), tenant="district")
    for key in [*keys, elsewhere]:
        await cache.set(key, answer())
    assert await cache.invalidate_tenant("school") == 2
    assert [await cache.get(key) for key in keys] == [None, None]
    assert await cache.get(elsewhere) == answer()


async def test_a_new_adapter_version_is_a_miss(open_cache: OpenCache) -> None:
    cache = open_cache()
    req = question(student_id="alice-smith")
    await cache.set(key_of(req, adapter="1:" + "a" * 64), answer("from adapter v1"))
    assert await cache.get(key_of(req, adapter="2:" + "b" * 64)) is None


async def test_stored_keys_hold_no_prompt_text_or_student_id(
    open_cache: OpenCache, backend: Backend
) -> None:
    cache = open_cache()
    keys = [key_of(question("Why is the sky blue?", "alice-smith")), key_of(question("Why now?"))]
    for key in keys:
        await cache.set(key, answer())
    if backend.server is not None:
        with backend.server.admin() as admin:
            keys = list(admin.scan_iter())
        assert len(keys) == 2
    for clear in ("sky", "blue", "why", "now", "alice", "smith"):  # no hex digit among them
        assert not any(clear in key.lower() for key in keys)


def cached_answer(text: str = "Sunlight scatters.", **fields: Any) -> CachedAnswer:
    usage = {"prompt_tokens": 5, "completion_tokens": 3}
    return CachedAnswer(text=text, model="bundled", usage=usage, **fields)


async def test_concurrent_identical_misses_share_one_generation(open_cache: OpenCache) -> None:
    answers, generations = CacheAside(open_cache()), 0
    key = key_of(question())

    async def generate() -> CachedAnswer:
        nonlocal generations
        generations += 1
        await asyncio.sleep(0.1)
        return cached_answer()

    results = await asyncio.gather(*(answers.get_or_generate(key, generate) for _ in range(10)))
    assert generations == 1
    assert results == [(cached_answer(), False)] * 10
    assert await answers.get_or_generate(key, generate) == (cached_answer(), True)
    assert generations == 1


async def test_a_failed_generation_reaches_every_waiter_and_is_not_cached(
    open_cache: OpenCache,
) -> None:
    cache, generations = open_cache(), 0
    answers = CacheAside(cache)
    key = key_of(question())

    async def generate() -> CachedAnswer:
        nonlocal generations
        generations += 1
        await asyncio.sleep(0.05)
        raise RuntimeError("model exploded")

    results = await asyncio.gather(
        *(answers.get_or_generate(key, generate) for _ in range(5)),
        return_exceptions=True,
    )
    assert generations == 1
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await cache.get(key) is None


async def test_fallback_answers_and_uncacheable_requests_are_not_stored(
    open_cache: OpenCache,
) -> None:
    cache = open_cache()
    answers = CacheAside(cache)
    key = key_of(question())

    async def fallback() -> CachedAnswer:
        return cached_answer("degraded", fallback_used=True)

    await answers.get_or_generate(key, fallback)
    assert await cache.get(key) is None
    before = events()
    assert await answers.get_or_generate(None, fallback) == (await fallback(), False)
    assert delta(before) == {"bypass": 1}


# Redis only: resilience --------------------------------------------------------------------


@pytest.mark.parametrize("hot_entries", [0, 8])
async def test_redis_killed_then_restarted(
    redis_server: RedisServer,
    open_redis: OpenRedis,
    hot_entries: int,
) -> None:
    cache = open_redis(hot_entries=hot_entries, breaker_failures=2, breaker_reset_s=0.5)
    key = key_of(question())
    await cache.set(key, answer())
    assert await cache.get(key) == answer()

    redis_server.kill()
    before = events()
    for _ in range(4):  # a hot tier may answer until its subscription notices the loss
        _, get_s = await timed(cache.get(key))
        _, set_s = await timed(cache.set(key, answer()))
        assert get_s < BOUND_S and set_s < BOUND_S
    assert cache.state == "degraded"
    assert await cache.get(key) is None
    counted = delta(before)
    assert counted["error"] >= 2 and counted["bypass"] >= 1 and "miss" not in counted
    with pytest.raises(CacheUnavailable):
        await cache.invalidate_tenant("school")

    redis_server.start()  # same port, empty

    async def recovered() -> bool:
        return cache.state == "ok"

    await eventually(recovered, within_s=0.5 * 2 + 3)
    await cache.set(key, answer("after the restart"))
    assert await cache.get(key) == answer("after the restart")


async def test_slow_redis_opens_the_circuit_and_calls_stop_touching_it(
    redis_server: RedisServer,
    open_redis: OpenRedis,
) -> None:
    cache = open_redis(breaker_failures=2, breaker_reset_s=2.0)
    key = key_of(question())
    await cache.set(key, answer())

    redis_server.pause()
    got, seconds = await timed(asyncio.gather(*(cache.get(key) for _ in range(20))))
    assert got == [None] * 20 and seconds < BOUND_S  # concurrent requests wait side by side
    assert cache.state == "degraded"

    redis_server.resume()
    await asyncio.sleep(0.3)  # the server drains the connections that timed out
    with redis_server.admin() as admin:
        connections = admin.info("stats")["total_connections_received"]
        before = events()
        for _ in range(20):
            assert await cache.get(key) is None
            await cache.set(key, answer())
        assert delta(before) == {"bypass": 20}
        assert admin.info("stats")["total_connections_received"] == connections

    async def recovered() -> bool:
        return cache.state == "ok"

    await eventually(recovered, within_s=2.0 * 2 + 2)
    assert await cache.get(key) == answer()


async def test_full_redis_skips_writes_but_keeps_serving(
    redis_server: RedisServer,
    open_redis: OpenRedis,
) -> None:
    cache = open_redis(breaker_failures=2)
    stored, refused = key_of(question("Why?")), key_of(question("How?"))
    await cache.set(stored, answer())
    with redis_server.admin() as admin:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        before = events()
        for _ in range(3):
            await cache.set(refused, answer())
        assert await cache.get(stored) == answer()
        assert delta(before) == {"error": 3, "hit": 1}
        assert cache.state == "ok"  # a full Redis is not a Redis that is down
        admin.config_set("maxmemory", 0)
    await cache.set(refused, answer())
    assert await cache.get(refused) == answer()


async def test_invalidation_reaches_the_hot_tier_of_every_replica(
    redis_server: RedisServer,
    open_redis: OpenRedis,
) -> None:
    here, there = open_redis(hot_entries=8), open_redis(hot_entries=8)
    key = key_of(question(student_id="alice-smith"))
    await here.set(key, answer())
    assert await there.get(key) == answer()
    with redis_server.admin() as admin:

        async def both_subscribed() -> bool:
            return dict(admin.pubsub_numsub(INVALIDATION_CHANNEL))[INVALIDATION_CHANNEL] == 2

        await eventually(both_subscribed, within_s=3)
        assert await there.get(key) == answer()  # now kept in there's hot tier too
        admin.delete(key)
    assert await there.get(key) == answer()  # served by the hot tier, not by Redis

    # Redis had lost it already
    assert await here.invalidate_student(owned_id("school", "alice-smith")) == 0

    async def gone_there() -> bool:
        return await there.get(key) is None

    await eventually(gone_there, within_s=2)


def test_make_cache_picks_redis_by_url() -> None:
    assert isinstance(make_cache(CacheConfig(redis_url="redis://127.0.0.1:1/0")), RedisCache)
