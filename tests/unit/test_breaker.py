"""ProbingBreaker: opens after consecutive failures, probes in the background, closes again."""

from __future__ import annotations

import asyncio

import pytest

from aivo.infra.breaker import BreakerState, ProbingBreaker

pytestmark = pytest.mark.anyio


class Dependency:
    """A probe target that is down until told otherwise."""

    def __init__(self) -> None:
        self.up = False
        self.probes = 0

    async def ping(self) -> None:
        self.probes += 1
        if not self.up:
            raise ConnectionError("down")


async def test_opens_after_consecutive_failures_only() -> None:
    breaker = ProbingBreaker(3, 10.0, Dependency().ping)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success in between resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.closed
    breaker.record_failure()
    assert breaker.state is BreakerState.open
    await breaker.close()


async def test_probes_until_the_dependency_returns_then_closes() -> None:
    dependency = Dependency()
    breaker = ProbingBreaker(1, 0.05, dependency.ping)
    breaker.record_failure()
    await asyncio.sleep(0.25)
    assert not breaker.closed
    assert dependency.probes >= 2
    dependency.up = True
    for _ in range(50):
        if breaker.closed:
            break
        await asyncio.sleep(0.02)
    assert breaker.closed
    probes = dependency.probes
    await asyncio.sleep(0.12)
    assert dependency.probes == probes  # a closed circuit does not probe
    await breaker.close()


async def test_a_late_success_does_not_close_an_open_circuit() -> None:
    breaker = ProbingBreaker(1, 10.0, Dependency().ping)
    breaker.record_failure()
    breaker.record_success()
    assert breaker.state is BreakerState.open
    await breaker.close()
