"""The fallback chain: the first model in the configured list that loads serves.

When none loads, the chain still exists: `/ready` reports why, and generation answers 503.
"""

from __future__ import annotations

from collections.abc import Callable

from aivo.config import EngineConfig, ModelSpec
from aivo.engine.loader import LoadedModel, load_model
from aivo.errors import ModelUnavailable
from aivo.observability import get_logger, log_event

log = get_logger("aivo.engine")

Loader = Callable[[ModelSpec, EngineConfig], LoadedModel]


class ModelChain:
    def __init__(self, config: EngineConfig, loader: Loader = load_model) -> None:
        self.config = config
        self.failures: dict[str, str] = {}
        self.active: LoadedModel | None = None
        for spec in config.models:
            try:
                self.active = loader(spec, config)
                break
            except Exception as error:  # any load failure moves on to the next model
                self.failures[spec.name] = f"{type(error).__name__}: {error}"[:500]
                log_event(log, "model load failed", model=spec.name, error=type(error).__name__)
        if self.active is not None:
            log_event(log, "model loaded", model=self.active.name, fallback=self.fallback_used)

    @property
    def primary(self) -> str:
        return self.config.models[0].name

    @property
    def fallback_used(self) -> bool:
        return self.active is not None and self.active.name != self.primary

    def require(self) -> LoadedModel:
        if self.active is None:
            raise ModelUnavailable(
                "no model could be loaded: "
                + "; ".join(f"{k}: {v}" for k, v in self.failures.items()),
                retry_after_s=30,
            )
        return self.active

    def status(self) -> dict[str, object]:
        return {
            "ready": self.active is not None,
            "model": self.active.name if self.active else None,
            "fallback_used": self.fallback_used,
            "failures": dict(self.failures),
        }
