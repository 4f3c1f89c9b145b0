"""InferenceReplica: holds the model chain and generates answers (GPU nodes; CPU locally)."""

from __future__ import annotations

import asyncio
import os

import torch

from aivo.config import AppConfig
from aivo.engine.fallback import ModelChain
from aivo.engine.generation import Completion, generate
from aivo.errors import GenerationTimeout, Overloaded


class InferenceReplica:
    def __init__(self, config: AppConfig) -> None:
        # Ray sets OMP_NUM_THREADS from num_cpus; a fractional replica would run on one thread.
        torch.set_num_threads(config.engine.torch_threads or os.cpu_count() or 1)
        self.config = config.engine
        self.chain = ModelChain(config.engine)
        self._turn = asyncio.Lock()
        self._waiting = 0

    async def generate(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> tuple[Completion, str, bool]:
        """The completion, the model that wrote it, and whether it was a fallback model."""
        loaded = self.chain.require()
        if self._waiting >= self.config.max_queued_requests:
            raise Overloaded("the inference queue is full; retry shortly", retry_after_s=1)
        self._waiting += 1
        try:
            async with asyncio.timeout(self.config.request_timeout_s):
                async with self._turn:
                    completion = await asyncio.to_thread(
                        generate, loaded, messages, max_tokens, temperature
                    )
        except TimeoutError:
            raise GenerationTimeout(
                f"generation took over {self.config.request_timeout_s:g} s"
            ) from None
        finally:
            self._waiting -= 1
        return completion, loaded.name, self.chain.fallback_used

    def status(self) -> dict[str, object]:
        return self.chain.status()
