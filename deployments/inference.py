"""InferenceReplica: one model, continuous batching across students' adapters (GPU nodes; CPU
locally). Requests stream text chunks as tokens are produced and end with a Generation."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import torch

from aivo.adapters import open_store
from aivo.adapters.residency import AdapterLease, AdapterResidency
from aivo.config import AppConfig
from aivo.engine.adapters import wrap_for_adapters
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.fallback import ModelChain
from aivo.engine.generation import Generation
from aivo.errors import GenerationTimeout


class InferenceReplica:
    def __init__(self, config: AppConfig) -> None:
        # Ray sets OMP_NUM_THREADS from num_cpus; a fractional replica would run on one thread.
        torch.set_num_threads(config.engine.torch_threads or os.cpu_count() or 1)
        self.config = config.engine
        self.chain = ModelChain(config.engine)
        self.batcher: ContinuousBatcher | None = None
        self.residency: AdapterResidency | None = None
        if self.chain.active is not None:
            loaded = wrap_for_adapters(self.chain.active)
            self.batcher = ContinuousBatcher(
                loaded,
                max_batch_size=config.engine.max_batch_size,
                batch_wait_ms=config.engine.batch_wait_ms,
                max_queued_requests=config.engine.max_queued_requests,
            )
            self.residency = AdapterResidency(
                open_store(config.storage),
                self.batcher,
                config.engine.cache_dir / "adapters" / f"replica-{os.getpid()}",
                max_adapters=config.engine.max_adapters,
                max_bytes=config.engine.max_adapter_bytes,
            )

    async def generate(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float,
        student_id: str | None = None,
        adapter_version: int | None = None,
    ) -> Generation:
        async for item in self.stream(
            messages, max_tokens, temperature, student_id, adapter_version
        ):
            if isinstance(item, Generation):
                return item
        raise AssertionError("a stream always ends with its Generation")

    async def stream(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float,
        student_id: str | None = None,
        adapter_version: int | None = None,
    ) -> AsyncIterator[str | Generation]:
        """Text chunks as they are produced, then the Generation. A caller that goes away (or
        the timeout) cancels the request, which frees its batch row at the next step."""
        loaded = self.chain.require()
        assert self.batcher is not None and self.residency is not None
        prompt_ids = loaded.chat_prompt_ids(messages)
        lease: AdapterLease | None = None
        if student_id is not None:
            lease = await self.residency.resolve(student_id, adapter_version)
        request = None
        try:
            adapter = lease.choice.adapter_name if lease else None
            request = self.batcher.submit(prompt_ids, max_tokens, temperature, adapter)
            async with asyncio.timeout(self.config.request_timeout_s):
                async for chunk in request:
                    yield chunk
                completion = await request.result()
        except TimeoutError:
            raise GenerationTimeout(
                f"generation took over {self.config.request_timeout_s:g} s"
            ) from None
        finally:
            if request is not None and not request.done:
                request.cancel()
            if lease is not None:
                lease.release()
        served = lease is not None and lease.choice.adapter_name is not None
        yield Generation(
            completion,
            loaded.name,
            self.chain.fallback_used,
            lease.choice.version if lease and served else None,
            lease.choice.fallback_reason if lease else None,
        )

    def status(self) -> dict[str, object]:
        status = self.chain.status()
        if self.batcher is not None and self.residency is not None:
            status["batch"] = {
                "active_rows": self.batcher.active_rows,
                "waiting": self.batcher.waiting_requests,
                "resident_adapters": len(self.residency.resident()),
            }
        return status
