"""The fallback chain, with a circuit breaker per model.

At start-up the first model in the configured list that loads serves. At run time a model whose
generations keep failing (errors, out of memory) has its circuit opened: the next model in the
chain serves (loaded when first needed) until `breaker_reset_s` has passed, when one request
tries the failing model again and its success closes the circuit. When no model can serve,
generation answers 503 and `/ready` says why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from aivo.config import EngineConfig, ModelSpec
from aivo.engine.loader import LoadedModel
from aivo.engine.weight_first import load_for_serving
from aivo.errors import ModelUnavailable
from aivo.observability import get_logger, log_event

log = get_logger("aivo.engine")

Loader = Callable[[ModelSpec, EngineConfig], LoadedModel]


class ModelBreaker:
    """A model's circuit: open for `reset_s` after `failures` in a row, then one request is its
    trial (a model cannot be probed without a generation; network dependencies use
    `aivo.infra.breaker.ProbingBreaker`)."""

    def __init__(self, failures: int, reset_s: float) -> None:
        self.threshold = failures
        self.reset_s = reset_s
        self.failures = 0
        self.opened_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if time.monotonic() - self.opened_at >= self.reset_s else "open"

    def admits(self) -> bool:
        return self.state != "open"

    def record_success(self) -> None:
        self.failures, self.opened_at = 0, None

    def record_failure(self) -> None:
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.threshold:
            self.opened_at = time.monotonic()  # (re)open: the trial failed, or too many failures


class ModelChain:
    def __init__(self, config: EngineConfig, loader: Loader = load_for_serving) -> None:
        self.config = config
        self._loader = loader
        self._lock = threading.Lock()  # one load at a time; loading happens off the event loop
        self.loaded: dict[str, LoadedModel] = {}
        self.failures: dict[str, str] = {}  # models that could not be loaded, and why
        self.breakers = {
            spec.name: ModelBreaker(config.breaker_failures, config.breaker_reset_s)
            for spec in config.models
        }
        for spec in config.models:
            if self._load(spec) is not None:
                break

    @property
    def primary(self) -> str:
        return self.config.models[0].name

    def pick(self) -> LoadedModel:
        """The first model in the chain whose circuit admits a request, loading it if needed
        (blocking: call it from a thread)."""
        with self._lock:
            for spec in self.config.models:
                if spec.name in self.failures or not self.breakers[spec.name].admits():
                    continue
                loaded = self.loaded.get(spec.name) or self._load(spec)
                if loaded is not None:
                    return loaded
        # why names models, paths and errors: for the logs, never the client
        log_event(log, "no model can serve", reasons=self._reasons())
        raise ModelUnavailable("no model can serve now; retry later", retry_after_s=30)

    def record(self, name: str, ok: bool) -> None:
        breaker = self.breakers[name]
        was = breaker.state
        breaker.record_success() if ok else breaker.record_failure()
        if breaker.state != was:
            log_event(log, "model circuit", model=name, state=breaker.state)

    def _load(self, spec: ModelSpec) -> LoadedModel | None:
        try:
            loaded = self._loader(spec, self.config)
        except Exception as error:  # any load failure moves on to the next model
            self.failures[spec.name] = f"{type(error).__name__}: {error}"[:500]
            log_event(log, "model load failed", model=spec.name, error=type(error).__name__)
            return None
        self.loaded[spec.name] = loaded
        log_event(log, "model loaded", model=spec.name, fallback=spec.name != self.primary)
        return loaded

    def _reasons(self) -> dict[str, str]:
        reasons = dict(self.failures)
        for name, breaker in self.breakers.items():
            if name not in reasons and not breaker.admits():
                reasons[name] = f"circuit open after {breaker.failures} failures"
        return reasons

    def status(self) -> dict[str, object]:
        serving = [
            s.name
            for s in self.config.models
            if s.name not in self.failures and self.breakers[s.name].admits()
        ]
        return {
            "ready": bool(serving),
            "model": serving[0] if serving else None,
            "fallback_used": bool(serving) and serving[0] != self.primary,
            "circuits": {name: b.state for name, b in self.breakers.items()},
            "failures": self._reasons(),
        }
