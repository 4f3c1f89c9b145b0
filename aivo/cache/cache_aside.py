"""The one read path of answers, streamed or not: the cache, else one shared generation whose
answer is stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field

from aivo.cache.interface import ResponseCache
from aivo.cache.single_flight import SingleFlight
from aivo.observability import record_cache_event
from aivo.schemas import FinishReason, ReadingLevel, StandardMatch, Usage, Verification


class CachedAnswer(BaseModel):
    """The cacheable part of a response: nothing per request, no student id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    model: str
    adapter_version: int | None = None  # the student's adapter version that served
    adapter_note: str | None = None
    fallback_used: bool = False
    standards: list[StandardMatch] = Field(default_factory=list)
    reading_level: ReadingLevel | None = None
    verification: Verification | None = None
    key_idea: str | None = None
    usage: Usage
    finish_reason: FinishReason = "stop"

    @property
    def storable(self) -> bool:
        """A fallback model's answer, or the base model's standing in for a student's adapter
        that failed to load, must not outlive the failure."""
        return not self.fallback_used and not self.adapter_note


Generate = Callable[[], Awaitable[CachedAnswer]]


class CacheAside:
    """`lookup(key)`, then on a miss `fill(key, generate)`; `get_or_generate` does both.

    `key` None: the request is not cacheable and is generated on its own. Concurrent misses of
    one key share one `generate`; its exception reaches all of them and nothing is stored.
    """

    def __init__(self, cache: ResponseCache, flights: SingleFlight | None = None) -> None:
        self.cache = cache
        self.flights = flights or SingleFlight()

    async def lookup(self, key: str | None) -> CachedAnswer | None:
        if key is None:
            record_cache_event("bypass")
            return None
        hit = await self.cache.get(key)
        return None if hit is None else CachedAnswer.model_validate(hit)

    async def fill(self, key: str | None, generate: Generate) -> CachedAnswer:
        if key is None:
            return await generate()

        async def generate_and_store() -> CachedAnswer:
            answer = await generate()
            if answer.storable:
                await self.cache.set(key, answer.model_dump(mode="json"))
            return answer

        return await self.flights.run(key, generate_and_store)

    async def get_or_generate(
        self, key: str | None, generate: Generate
    ) -> tuple[CachedAnswer, bool]:
        """(answer, cached)."""
        hit = await self.lookup(key)
        if hit is not None:
            return hit, True
        return await self.fill(key, generate), False
