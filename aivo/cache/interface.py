"""The one interface every response cache backend provides."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from aivo.errors import AivoError

CacheState = Literal["ok", "degraded"]


class CacheUnavailable(AivoError):
    """An invalidation could not reach the cache; the caller should retry it."""

    status, code = 503, "cache_unavailable"


class ResponseCache(Protocol):
    """Cached answers (JSON-able response dicts) by key.

    get() and set() never raise for cache trouble: a failed get() is a miss, a failed set() is
    skipped, and the event is recorded. Invalidations raise CacheUnavailable when they could not
    be carried out, because a silent failure would leave answers that must be gone.
    """

    @property
    def state(self) -> CacheState:
        """The ready endpoint reports it: "degraded" while the backend is bypassed, else "ok"."""
        ...

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def set(self, key: str, value: dict[str, Any]) -> None: ...

    async def invalidate_student(self, student_id: str) -> int:
        """Removes every cached answer of one student (its owned id, `aivo.tenancy`); returns
        how many were removed."""
        ...

    async def invalidate_tenant(self, tenant: str) -> int:
        """Removes every cached answer of one tenant; returns how many were removed."""
        ...

    async def close(self) -> None: ...
