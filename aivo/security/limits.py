"""Bounded consumption per tenant: requests and generated tokens per minute (OWASP LLM10).

A request reserves its `max_tokens` when it is admitted and settles for what it generated when
it ends (answered, failed or dropped by its client), so concurrent requests cannot together
spend past the budget. Counts live in Redis when a URL is configured, so every ingress replica
shares them; while Redis is unreachable the replica counts on its own (limits hold per replica)
instead of refusing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from redis.exceptions import RedisError

from aivo.config import CacheConfig, SecurityConfig
from aivo.errors import RateLimited
from aivo.infra.redis import GuardedRedis, redis_url
from aivo.security.keys import Principal

WINDOW_S = 60


def current_window() -> int:
    return int(time.time() // WINDOW_S)


class Counters(Protocol):
    async def add(self, amounts: dict[str, int], window: int) -> dict[str, int]:
        """Adds to the named counters of `window`; returns their new totals."""
        ...


class LocalCounters:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._window = 0

    async def add(self, amounts: dict[str, int], window: int) -> dict[str, int]:
        if window < self._window:  # a past minute's counts are gone: nothing to settle
            return dict.fromkeys(amounts, 0)
        if window > self._window:  # a new minute: the old counts can go
            self._counts.clear()
            self._window = window
        for name, amount in amounts.items():
            self._counts[name] = self._counts.get(name, 0) + amount
        return {name: self._counts[name] for name in amounts}


class RedisCounters:
    def __init__(self, config: CacheConfig) -> None:
        self._redis = GuardedRedis(config, name="rate_limits")
        self._fallback = LocalCounters()

    async def add(self, amounts: dict[str, int], window: int) -> dict[str, int]:
        if not self._redis.healthy:
            return await self._fallback.add(amounts, window)
        pipeline = self._redis.client.pipeline(transaction=False)
        for name, amount in amounts.items():  # one round trip for every counter
            key = f"aivo:limits:{name}:{window}"
            pipeline.incrby(key, amount)
            pipeline.expire(key, 2 * WINDOW_S)
        try:
            replies = await self._redis.call(pipeline.execute())
        except RedisError:
            return await self._fallback.add(amounts, window)
        return {name: int(total) for name, total in zip(amounts, replies[::2], strict=True)}


@dataclass
class Reservation:
    """Tokens held for one request in its window, until it settles for what it used."""

    counters: Counters
    key: str
    tokens: int
    window: int
    settled: bool = False

    async def settle(self, used: int) -> None:
        """Charge `used` tokens (at most the reservation) and give the rest back; once."""
        if self.settled:
            return
        self.settled = True
        refund = self.tokens - min(used, self.tokens)
        if refund:
            await self.counters.add({self.key: -refund}, self.window)


class RateLimiter:
    def __init__(self, security: SecurityConfig, cache: CacheConfig) -> None:
        self.requests_per_minute = security.requests_per_minute
        self.tokens_per_minute = security.tokens_per_minute
        self.counters: Counters = RedisCounters(cache) if redis_url(cache) else LocalCounters()

    async def admit(self, principal: Principal, max_tokens: int = 0) -> Reservation:
        """Counts one request and reserves `max_tokens`; 429 (reserving nothing) when the key
        's tenant is over its requests or tokens this minute."""
        request_key, token_key = f"req:{principal.tenant}", f"tok:{principal.tenant}"
        window = current_window()
        # Added first, checked after: concurrent admissions each see the others' reservations.
        totals = await self.counters.add({request_key: 1, token_key: max_tokens}, window)
        requests, tokens = totals[request_key], totals[token_key]
        over_requests = requests > self.requests_per_minute
        if over_requests or tokens > self.tokens_per_minute:
            if max_tokens:
                await self.counters.add({token_key: -max_tokens}, window)
            what = "requests" if over_requests else "generated tokens"
            raise RateLimited(
                f"this API key's tenant is over its {what} per minute; retry later",
                retry_after_s=WINDOW_S - time.time() % WINDOW_S,
            )
        return Reservation(self.counters, token_key, max_tokens, window)
