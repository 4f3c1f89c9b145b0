"""The circuit breaker of a network dependency (Redis): stops calling it while it is down and
probes for its return in the background. (A model's breaker, `aivo.engine.fallback.ModelBreaker`,
lets one request through as its trial instead: a model cannot be probed without a generation.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from enum import StrEnum

from aivo.observability import CIRCUIT_OPEN


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class ProbingBreaker:
    """Opens after `failures` consecutive failures; then only `probe` calls the dependency.

    While open, a background task runs `probe` every `reset_s` (half-open while it runs) and
    closes the circuit on the first success, so recovery needs no traffic and no restart.
    `probe` must bound its own duration. A named breaker exports its state as the gauge
    `aivo_circuit_open{circuit=name}`, which the degraded-state alerts watch.
    """

    def __init__(
        self,
        failures: int,
        reset_s: float,
        probe: Callable[[], Awaitable[object]],
        name: str | None = None,
    ) -> None:
        self.name = name
        self._threshold = failures
        self._reset_s = reset_s
        self._probe = probe
        self._failures = 0
        self._prober: asyncio.Task[None] | None = None
        self.state = BreakerState.closed

    @property
    def state(self) -> BreakerState:
        return self._state

    @state.setter
    def state(self, state: BreakerState) -> None:
        self._state = state
        if self.name is not None:
            CIRCUIT_OPEN.labels(circuit=self.name).set(0 if state is BreakerState.closed else 1)

    @property
    def closed(self) -> bool:
        return self.state is BreakerState.closed

    def record_success(self) -> None:
        # Only the prober closes an open circuit: a late success of an old call proves little.
        if self.closed:
            self._failures = 0

    def record_failure(self) -> None:
        self._failures += 1
        if self.closed and self._failures >= self._threshold:
            self.state = BreakerState.open
            self._prober = asyncio.create_task(self._probe_until_closed())

    async def _probe_until_closed(self) -> None:
        while True:
            await asyncio.sleep(self._reset_s)
            self.state = BreakerState.half_open
            try:
                await self._probe()
            except Exception:  # any failure of the probe means: still down
                self.state = BreakerState.open
                continue
            self._failures = 0
            self.state = BreakerState.closed
            return

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
