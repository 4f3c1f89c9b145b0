"""The ingress's read path: cache, else one shared generation whose answer is stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aivo.cache.interface import ResponseCache
from aivo.cache.single_flight import SingleFlight
from aivo.observability import record_cache_event

Answer = dict[str, Any]


def storable(answer: Answer) -> bool:
    """A fallback model's answer, or the base model's standing in for a student's adapter that
    failed to load, must not outlive the failure."""
    return not answer.get("fallback_used") and not answer.get("adapter_note")


async def get_or_generate(
    cache: ResponseCache,
    flights: SingleFlight,
    key: str | None,
    generate: Callable[[], Awaitable[Answer]],
) -> tuple[Answer, bool]:
    """(answer, cached). `key` None: the request is not cacheable and is generated on its own.

    Concurrent misses of one key share one `generate`; its exception reaches all of them and
    nothing is stored. Each caller gets its own top-level copy of a shared answer.
    """
    if key is None:
        record_cache_event("bypass")
        return await generate(), False
    hit = await cache.get(key)
    if hit is not None:
        return hit, True

    async def generate_and_store() -> Answer:
        answer = await generate()
        if storable(answer):
            await cache.set(key, answer)
        return answer

    return dict(await flights.run(key, generate_and_store)), False
