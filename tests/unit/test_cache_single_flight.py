"""SingleFlight: one run per key among concurrent callers, errors shared, nothing kept."""

from __future__ import annotations

import asyncio

import pytest

from aivo.cache import SingleFlight

pytestmark = pytest.mark.anyio


class Generation:
    """A slow piece of work that counts its runs."""

    def __init__(self, delay_s: float = 0.05, error: Exception | None = None) -> None:
        self.runs = 0
        self.cancelled = False
        self._delay_s = delay_s
        self._error = error

    async def __call__(self) -> dict[str, str]:
        self.runs += 1
        try:
            await asyncio.sleep(self._delay_s)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self._error is not None:
            raise self._error
        return {"text": f"answer {self.runs}"}


async def test_concurrent_identical_calls_share_one_run() -> None:
    flights, work = SingleFlight(), Generation()
    results = await asyncio.gather(*(flights.run("k", work) for _ in range(20)))
    assert work.runs == 1
    assert all(result == {"text": "answer 1"} for result in results)
    assert len(flights) == 0


async def test_different_keys_run_separately() -> None:
    flights, work = SingleFlight(), Generation()
    await asyncio.gather(flights.run("a", work), flights.run("b", work))
    assert work.runs == 2


async def test_a_later_call_runs_again() -> None:
    flights, work = SingleFlight(), Generation(delay_s=0)
    await flights.run("k", work)
    assert await flights.run("k", work) == {"text": "answer 2"}


async def test_an_error_reaches_every_waiter_and_is_not_kept() -> None:
    flights, failing = SingleFlight(), Generation(error=ValueError("model exploded"))
    results = await asyncio.gather(
        *(flights.run("k", failing) for _ in range(5)), return_exceptions=True
    )
    assert failing.runs == 1
    assert all(isinstance(r, ValueError) and str(r) == "model exploded" for r in results)
    assert await flights.run("k", Generation(delay_s=0)) == {"text": "answer 1"}


async def test_a_cancelled_waiter_leaves_the_others_their_answer() -> None:
    flights, work = SingleFlight(), Generation(delay_s=0.1)
    leaver = asyncio.create_task(flights.run("k", work))
    stayer = asyncio.create_task(flights.run("k", work))
    await asyncio.sleep(0.02)
    leaver.cancel()
    assert await stayer == {"text": "answer 1"}
    assert leaver.cancelled()
    assert not work.cancelled


async def test_the_run_is_cancelled_when_its_last_waiter_leaves() -> None:
    flights, work = SingleFlight(), Generation(delay_s=5)
    waiter = asyncio.create_task(flights.run("k", work))
    await asyncio.sleep(0.02)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.sleep(0)
    assert work.cancelled
    assert len(flights) == 0
