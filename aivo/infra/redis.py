"""The Redis client every Redis user shares: each round trip within a deadline, an unreachable
server fed to a breaker that probes for its return."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aivo.config import CacheConfig
from aivo.infra.breaker import ProbingBreaker

T = TypeVar("T")

# Failures that mean "Redis cannot be reached"; other RedisErrors (e.g. OOM) are per command.
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError)


class RedisUnreachable(RedisError):
    """A round trip failed to reach Redis within its deadline."""


class GuardedRedis:
    def __init__(self, config: CacheConfig, name: str) -> None:
        if config.redis_url is None:
            raise ValueError("Redis needs cache.redis_url")
        self.deadline_s = config.connect_timeout_s + config.socket_timeout_s
        pool = ConnectionPool.from_url(
            config.redis_url,
            socket_connect_timeout=config.connect_timeout_s,
            socket_timeout=config.socket_timeout_s,
            retry=Retry(NoBackoff(), 0),  # a retry would double the delay a request may pay
            decode_responses=True,
        )
        self.client = Redis.from_pool(pool)
        self.breaker = ProbingBreaker(
            config.breaker_failures, config.breaker_reset_s, self._ping, name=name
        )

    @property
    def healthy(self) -> bool:
        """False while the circuit is open: callers bypass Redis instead of waiting on it."""
        return self.breaker.closed

    async def call(self, command: Awaitable[T]) -> T:
        """One round trip within the deadline; RedisUnreachable (and a breaker failure) if not."""
        try:
            # the outer bound also covers waits that socket timeouts do not (pool, DNS)
            async with asyncio.timeout(self.deadline_s):
                result = await command
        except _UNREACHABLE as error:
            self.breaker.record_failure()
            raise RedisUnreachable(str(error) or type(error).__name__) from error
        self.breaker.record_success()
        return result

    async def _ping(self) -> None:
        async with asyncio.timeout(self.deadline_s):
            await self.client.ping()

    async def close(self) -> None:
        await self.breaker.close()
        await self.client.aclose()
