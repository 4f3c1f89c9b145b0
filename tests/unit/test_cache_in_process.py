"""InProcessCache specifics: the LRU bound and copies on get (the shared suite covers the rest)."""

from __future__ import annotations

import pytest

from aivo.cache import InProcessCache, make_cache
from aivo.config import CacheConfig

pytestmark = pytest.mark.anyio


async def test_the_least_recently_used_entry_leaves_first() -> None:
    cache = InProcessCache(CacheConfig(max_entries=2))
    await cache.set("aivo:answer:v1:anon:a", {"text": "a"})
    await cache.set("aivo:answer:v1:anon:b", {"text": "b"})
    assert await cache.get("aivo:answer:v1:anon:a") is not None  # a is now the most recent
    await cache.set("aivo:answer:v1:anon:c", {"text": "c"})
    assert await cache.get("aivo:answer:v1:anon:b") is None
    assert await cache.get("aivo:answer:v1:anon:a") == {"text": "a"}
    assert await cache.get("aivo:answer:v1:anon:c") == {"text": "c"}


async def test_callers_get_copies() -> None:
    cache = InProcessCache(CacheConfig())
    answer = {"text": "a", "standards": [{"code": "x"}]}
    await cache.set("k", answer)
    answer["text"] = "changed after set"
    got = await cache.get("k")
    assert got is not None
    got["standards"].clear()
    assert await cache.get("k") == {"text": "a", "standards": [{"code": "x"}]}


def test_make_cache_defaults_to_in_process() -> None:
    assert isinstance(make_cache(CacheConfig()), InProcessCache)
