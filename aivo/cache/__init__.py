"""Response cache: cache-aside at the ingress, never stale, never a single point of failure.

The tutor service computes `cache_key(...)` for requests that pass `is_cacheable(...)` and answers
through `CacheAside(cache)`; `make_cache(config)` picks the backend.
"""

from __future__ import annotations

from aivo.cache.cache_aside import CacheAside, CachedAnswer
from aivo.cache.in_process import InProcessCache
from aivo.cache.interface import CacheState, CacheUnavailable, ResponseCache
from aivo.cache.keys import cache_key, is_cacheable
from aivo.cache.redis_cache import RedisCache
from aivo.cache.single_flight import SingleFlight
from aivo.config import CacheConfig
from aivo.infra.redis import redis_url


def make_cache(config: CacheConfig) -> ResponseCache:
    """Redis when a URL is configured (or in the environment), else the in-process cache (the
    embedded default)."""
    if redis_url(config) is None:
        return InProcessCache(config)
    return RedisCache(config)


__all__ = [
    "CacheAside",
    "CacheState",
    "CacheUnavailable",
    "CachedAnswer",
    "InProcessCache",
    "RedisCache",
    "ResponseCache",
    "SingleFlight",
    "cache_key",
    "is_cacheable",
    "make_cache",
]
