"""Bounded consumption per tenant: requests and generated tokens per minute (OWASP LLM10).

Counts live in Redis when a URL is configured, so every ingress replica shares them; while Redis
is unreachable the replica counts on its own (limits hold per replica) instead of refusing.
"""

from __future__ import annotations

import time
from typing import Protocol

from redis.exceptions import RedisError

from aivo.config import CacheConfig, SecurityConfig
from aivo.errors import RateLimited
from aivo.infra.redis import GuardedRedis, redis_url
from aivo.security.keys import Principal

WINDOW_S = 60


class Counters(Protocol):
    async def add(self, amounts: dict[str, int]) -> dict[str, int]:
        """Adds to the named counters of the current window; returns their new totals."""
        ...


class LocalCounters:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._window = 0

    async def add(self, amounts: dict[str, int]) -> dict[str, int]:
        window = int(time.time() // WINDOW_S)
        if window != self._window:  # a new minute: the old counts can go
            self._counts.clear()
            self._window = window
        for name, amount in amounts.items():
            self._counts[name] = self._counts.get(name, 0) + amount
        return {name: self._counts[name] for name in amounts}


class RedisCounters:
    def __init__(self, config: CacheConfig) -> None:
        self._redis = GuardedRedis(config, name="rate_limits")
        self._fallback = LocalCounters()

    async def add(self, amounts: dict[str, int]) -> dict[str, int]:
        if not self._redis.healthy:
            return await self._fallback.add(amounts)
        window = int(time.time() // WINDOW_S)
        pipeline = self._redis.client.pipeline(transaction=False)
        for name, amount in amounts.items():  # one round trip for every counter
            key = f"aivo:limits:{name}:{window}"
            pipeline.incrby(key, amount)
            pipeline.expire(key, 2 * WINDOW_S)
        try:
            replies = await self._redis.call(pipeline.execute())
        except RedisError:
            return await self._fallback.add(amounts)
        return {name: int(total) for name, total in zip(amounts, replies[::2], strict=True)}


class RateLimiter:
    def __init__(self, security: SecurityConfig, cache: CacheConfig) -> None:
        self.requests_per_minute = security.requests_per_minute
        self.tokens_per_minute = security.tokens_per_minute
        self.counters: Counters = RedisCounters(cache) if redis_url(cache) else LocalCounters()

    async def admit(self, principal: Principal) -> None:
        """Counts one request; 429 when the key's tenant is over its requests or tokens this
        minute."""
        request_key, token_key = f"req:{principal.tenant}", f"tok:{principal.tenant}"
        totals = await self.counters.add({request_key: 1, token_key: 0})
        requests, tokens = totals[request_key], totals[token_key]
        if requests > self.requests_per_minute or tokens >= self.tokens_per_minute:
            what = "requests" if requests > self.requests_per_minute else "generated tokens"
            raise RateLimited(
                f"this API key's tenant is over its {what} per minute; retry later",
                retry_after_s=WINDOW_S - time.time() % WINDOW_S,
            )

    async def spend(self, principal: Principal, tokens: int) -> None:
        await self.counters.add({f"tok:{principal.tenant}": tokens})
