"""The Redis client every Redis user shares: each round trip within a deadline, an unreachable
server fed to a breaker that probes for its return.

The URL (`redis://`, or `rediss://` for TLS) and the credentials (a password, or an ACL user and
its password) may come from the environment, so a Kubernetes Secret can hold them; they never
need to be in a Serve config.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aivo.config import (
    REDIS_PASSWORD_ENV,
    REDIS_URL_ENV,
    REDIS_USERNAME_ENV,
    CacheConfig,
    ConfigError,
)
from aivo.infra.breaker import ProbingBreaker
from aivo.observability import get_logger, log_event

T = TypeVar("T")

# Failures that mean "Redis cannot be reached"; other RedisErrors (e.g. OOM) are per command.
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError)


REFUSED_CREDENTIALS = (
    f"Redis refused the credentials: check ${REDIS_USERNAME_ENV} and ${REDIS_PASSWORD_ENV}"
)

log = get_logger("aivo.redis")


class RedisUnreachable(RedisError):
    """A round trip failed to reach Redis within its deadline."""


def redis_url(config: CacheConfig) -> str | None:
    """$AIVO_REDIS_URL when set, else cache.redis_url; None: no Redis."""
    return os.environ.get(REDIS_URL_ENV) or config.redis_url


def connection(config: CacheConfig) -> tuple[str, dict[str, Any]]:
    """The URL and the pool's options: credentials from the environment, TLS for rediss://."""
    url = redis_url(config)
    if url is None:
        raise ConfigError(f"Redis needs cache.redis_url or ${REDIS_URL_ENV}")
    options: dict[str, Any] = {
        "socket_connect_timeout": config.connect_timeout_s,
        "socket_timeout": config.socket_timeout_s,
        "retry": Retry(NoBackoff(), 0),  # a retry would double the delay a request may pay
        "decode_responses": True,
    }
    for option, env in (("username", REDIS_USERNAME_ENV), ("password", REDIS_PASSWORD_ENV)):
        if value := os.environ.get(env):
            options[option] = value
    tls_files = {
        "ssl_ca_certs": config.tls_ca_file,
        "ssl_certfile": config.tls_cert_file,
        "ssl_keyfile": config.tls_key_file,
    }
    if url.startswith("rediss://"):
        options["ssl_cert_reqs"] = "required"  # the server's certificate and host name
        options.update({k: str(path) for k, path in tls_files.items() if path is not None})
    elif any(tls_files.values()):
        raise ConfigError("cache.tls_* files need a rediss:// URL")
    return url, options


class GuardedRedis:
    def __init__(self, config: CacheConfig, name: str) -> None:
        url, options = connection(config)
        self.name = name
        self.deadline_s = config.connect_timeout_s + config.socket_timeout_s
        pool = ConnectionPool.from_url(url, **options)
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
        except AuthenticationError as error:
            self.breaker.record_failure()
            log_event(log, "redis refused the credentials", client=self.name)
            raise RedisUnreachable(REFUSED_CREDENTIALS) from error
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
