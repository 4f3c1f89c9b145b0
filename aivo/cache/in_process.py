"""The embedded default: an in-process LRU with a time to live per entry."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from typing import Any

from aivo.cache.interface import CacheState
from aivo.cache.keys import student_prefix, tenant_prefix
from aivo.config import CacheConfig
from aivo.observability import record_cache_event


class TtlLru:
    """Serialised answers by key, bounded: the least recently used entry leaves first."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, raw = entry
        if expires_at <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return raw

    def put(self, key: str, raw: str, ttl_s: float) -> None:
        self._entries[key] = (time.monotonic() + ttl_s, raw)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def drop_prefix(self, prefix: str) -> int:
        doomed = [key for key in self._entries if key.startswith(prefix)]
        for key in doomed:
            del self._entries[key]
        return len(doomed)

    def clear(self) -> None:
        self._entries.clear()


class InProcessCache:
    """A ResponseCache for one process; answers are stored serialised, so callers get copies."""

    def __init__(self, config: CacheConfig) -> None:
        self._ttl_s = config.ttl_s
        self._entries = TtlLru(config.max_entries)

    @property
    def state(self) -> CacheState:
        return "ok"

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = self._entries.get(key)
        record_cache_event("miss" if raw is None else "hit")
        return None if raw is None else json.loads(raw)

    async def set(self, key: str, value: dict[str, Any]) -> None:
        self._entries.put(key, json.dumps(value, separators=(",", ":")), self._ttl_s)

    async def invalidate_student(self, student_id: str) -> int:
        return self._entries.drop_prefix(student_prefix(student_id))

    async def invalidate_tenant(self, tenant: str) -> int:
        return self._entries.drop_prefix(tenant_prefix(tenant))

    async def close(self) -> None:
        self._entries.clear()
