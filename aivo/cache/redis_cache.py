"""The deployment backend: Redis shared by every ingress replica, with an optional hot tier.

Every round trip is bounded by the configured timeouts and guarded by a circuit breaker, so a
Redis that is down, slow or full costs a request at most one bounded delay and never an error.
Every entry carries an HMAC of its key and value under the configured secret: an entry written
by anyone else who can reach Redis is never served (it counts as a miss).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis.exceptions import RedisError

from aivo.cache.in_process import TtlLru
from aivo.cache.interface import CacheState, CacheUnavailable
from aivo.cache.keys import KEY_PREFIX, student_prefix, tenant_prefix
from aivo.config import CacheConfig
from aivo.infra.redis import GuardedRedis, RedisUnreachable
from aivo.observability import get_logger, log_event, record_cache_event
from aivo.security.secrets import load_secret

T = TypeVar("T")

# Each message is a key prefix whose entries every hot tier drops.
INVALIDATION_CHANNEL = "aivo:answer:invalidations"
_SCAN_BATCH = 500
_MAC_CHARS = 64  # hex HMAC-SHA256, then ":", then the value

log = get_logger("aivo.cache")


class RedisCache:
    """A ResponseCache in Redis (TTL per entry), with an in-process tier for the hottest keys.

    The hot tier (config.hot_entries > 0) serves only while the circuit is closed and this
    replica is subscribed to the invalidation channel, so an invalidation made on any replica
    reaches it.
    """

    def __init__(self, config: CacheConfig) -> None:
        self._ttl_s = config.ttl_s
        self._retry_s = config.breaker_reset_s
        self._mac_key = load_secret(config.mac_key)
        self._redis = GuardedRedis(config, name="cache")
        self._client = self._redis.client
        self._hot = TtlLru(config.hot_entries) if config.hot_entries else None
        self._hot_live = False
        self._hot_epoch = 0  # bumped by every drop from the hot tier
        self._listener: asyncio.Task[None] | None = None

    @property
    def state(self) -> CacheState:
        return "ok" if self._redis.healthy else "degraded"

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = self._hot_get(key)
        if raw is None:
            if not self._redis.healthy:
                record_cache_event("bypass")
                return None
            epoch = self._hot_epoch
            try:
                pipeline = self._client.pipeline(transaction=False)
                pipeline.get(key)
                pipeline.pttl(key)  # the hot tier keeps an entry no longer than Redis does
                sealed, ttl_ms = await self._call(pipeline.execute())
            except (CacheUnavailable, RedisError):
                record_cache_event("error")
                return None
            raw = None if sealed is None else self._opened(key, sealed)
            if raw is not None and ttl_ms > 0:
                self._put_hot(key, raw, ttl_ms / 1000, epoch)
        try:
            value = None if raw is None else json.loads(raw)
        except ValueError:
            record_cache_event("error")
            return None
        record_cache_event("miss" if value is None else "hit")
        return value

    async def set(self, key: str, value: dict[str, Any]) -> None:
        raw = json.dumps(value, separators=(",", ":"))
        if not self._redis.healthy:
            return
        epoch = self._hot_epoch
        try:
            await self._call(self._client.set(key, self._sealed(key, raw), ex=self._ttl_s))
        except (CacheUnavailable, RedisError):
            record_cache_event("error")
            return
        self._put_hot(key, raw, self._ttl_s, epoch)

    def _mac(self, key: str, raw: str) -> str:
        # the key is signed too: an entry moved to another key (student) does not verify
        message = f"{key}\n{raw}".encode()
        return hmac.new(self._mac_key, message, hashlib.sha256).hexdigest()

    def _sealed(self, key: str, raw: str) -> str:
        return f"{self._mac(key, raw)}:{raw}"

    def _opened(self, key: str, sealed: str) -> str | None:
        """The value of a sealed entry; None (logged, never its content) if its MAC fails."""
        mac, raw = sealed[:_MAC_CHARS], sealed[_MAC_CHARS + 1 :]
        expected = self._mac(key, raw).encode()
        if sealed[_MAC_CHARS : _MAC_CHARS + 1] == ":" and hmac.compare_digest(
            mac.encode(), expected
        ):
            return raw
        log_event(log, "cache entry failed its MAC check: not served", chars=len(sealed))
        return None

    async def invalidate_student(self, student_id: str) -> int:
        return await self._invalidate(student_prefix(student_id))

    async def invalidate_tenant(self, tenant: str) -> int:
        return await self._invalidate(tenant_prefix(tenant))

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.close()

    async def _invalidate(self, prefix: str) -> int:
        """Tried even while the circuit is open: an answer that must go is worth a timeout."""
        self._drop_hot(prefix)
        removed = 0
        try:
            cursor = 0
            while True:
                scan = self._client.scan(cursor, match=f"{prefix}*", count=_SCAN_BATCH)
                cursor, keys = await self._call(scan)
                if keys:
                    removed += await self._call(self._client.unlink(*keys))
                if cursor == 0:
                    break
            await self._call(self._client.publish(INVALIDATION_CHANNEL, prefix))
        except RedisError as error:
            raise CacheUnavailable(f"cache invalidation failed: {error}") from error
        return removed

    async def _call(self, command: Awaitable[T]) -> T:
        """One round trip within the deadline; unreachable Redis feeds the breaker."""
        self._start_listener()
        try:
            return await self._redis.call(command)
        except RedisUnreachable as error:
            raise CacheUnavailable("the response cache is unreachable") from error

    def _hot_get(self, key: str) -> str | None:
        # an open circuit bypasses the hot tier too: degraded means no cache at all
        if self._hot is None or not self._hot_live or not self._redis.healthy:
            return None
        return self._hot.get(key)

    def _start_listener(self) -> None:
        # started on first use: the constructor may run outside the event loop
        if self._hot is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        while True:
            with contextlib.suppress(RedisError, OSError):
                await self._follow_invalidations()
            await asyncio.sleep(self._retry_s)

    async def _follow_invalidations(self) -> None:
        """Drops hot entries as invalidations arrive; the tier serves only while this runs."""
        try:
            async with self._client.pubsub() as pubsub:
                await pubsub.subscribe(INVALIDATION_CHANNEL)
                self._hot_live = True
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._drop_hot(message["data"])
        finally:
            self._hot_live = False
            self._drop_hot(KEY_PREFIX)  # invalidations may be missed while unsubscribed

    def _drop_hot(self, prefix: str) -> None:
        if self._hot is not None:
            self._hot.drop_prefix(prefix)
            self._hot_epoch += 1

    def _put_hot(self, key: str, raw: str, ttl_s: float, epoch: int) -> None:
        # an invalidation that arrived while Redis answered wins over that answer
        if self._hot is not None and self._hot_live and epoch == self._hot_epoch:
            self._hot.put(key, raw, ttl_s)
