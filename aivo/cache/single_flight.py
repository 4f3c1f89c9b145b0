"""Concurrent identical misses on one event loop share one generation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

T = TypeVar("T")


@dataclass
class _Flight:
    task: asyncio.Task[Any]
    waiters: int = 0


class SingleFlight:
    """`await run(key, factory)`: callers with the same key while a run is under way share it.

    The run's result, or its exception, goes to every waiter; nothing is kept once it ends. A
    waiter that is cancelled leaves the others waiting; when the last one leaves, the run is
    cancelled.
    """

    def __init__(self) -> None:
        self._flights: dict[str, _Flight] = {}

    async def run(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight(asyncio.create_task(self._fly(key, factory)))
            self._flights[key] = flight
        flight.waiters += 1
        try:
            # shield: one waiter's cancellation must not cancel the run the others wait for
            return cast(T, await asyncio.shield(flight.task))
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                self._forget(key, flight.task)
                flight.task.cancel()

    async def _fly(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        try:
            return await factory()
        finally:
            # forget the key before the result is out, so a later caller starts a fresh run
            task = asyncio.current_task()
            if task is not None:
                self._forget(key, task)

    def _forget(self, key: str, task: asyncio.Task[Any]) -> None:
        flight = self._flights.get(key)
        if flight is not None and flight.task is task:
            del self._flights[key]

    def __len__(self) -> int:
        return len(self._flights)
