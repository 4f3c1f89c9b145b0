"""InferenceReplica: continuous batching across students' adapters, behind the model fallback
chain (GPU nodes; CPU locally). Requests stream text chunks as tokens are produced and end with
a Generation."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import torch
from ray import serve

from aivo.adapters import AdapterStore, StudentAdapter, open_store
from aivo.config import AppConfig
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.fallback import ModelChain
from aivo.engine.gathered_lora import gather_adapters
from aivo.engine.generation import Generation, GenerationStart
from aivo.engine.loader import LoadedModel
from aivo.engine.prefix_cache import configured_prefix_cache
from aivo.engine.replica_folder import ReplicaFolder
from aivo.engine.residency import AdapterLease, AdapterResidency
from aivo.engine.rows import GenerationFailed
from aivo.engine.sampling import SamplingParams
from aivo.error_tracking import init_error_tracking
from aivo.errors import GenerationTimeout
from aivo.observability import pseudonym
from aivo.security.pseudonyms import key_pseudonyms

# Students a replica advertises to the router; more than the adapters kept resident, since
# the affinity is only a preference.
STUDENTS_PER_REPLICA = 256
# How often a replica drops the resident adapters of students deleted from the store.
DELETED_CHECK_S = 10.0


@dataclass(frozen=True)
class ModelServer:
    """One loaded model with its batcher and its resident student adapters."""

    loaded: LoadedModel
    batcher: ContinuousBatcher
    residency: AdapterResidency


class InferenceReplica:
    def __init__(
        self,
        config: AppConfig,
        *,
        chain: ModelChain | None = None,
        store: AdapterStore | None = None,
    ) -> None:
        init_error_tracking("inference")
        key_pseudonyms(config.security.pseudonym_key)
        # Ray sets OMP_NUM_THREADS from num_cpus; a fractional replica would run on one thread.
        torch.set_num_threads(config.engine.torch_threads or os.cpu_count() or 1)
        self.config = config.engine
        self.store = store if store is not None else open_store(config.storage)
        self.chain = chain if chain is not None else ModelChain(config.engine)
        self.servers: dict[str, ModelServer] = {}
        # fetched adapters wait here; what crashed replicas left behind is swept now
        self.folder = ReplicaFolder(config.engine.cache_dir / "adapters")
        self._checks: set[asyncio.Task[None]] = set()

    def _server(self, loaded: LoadedModel) -> ModelServer:
        server = self.servers.get(loaded.name)
        if server is None:
            wrapped = gather_adapters(loaded, self.config.max_adapters)
            batcher = ContinuousBatcher(
                wrapped,
                max_batch_size=self.config.max_batch_size,
                batch_wait_ms=self.config.batch_wait_ms,
                max_queued_requests=self.config.max_queued_requests,
                prefix_cache=configured_prefix_cache(self.config, loaded.name),
            )
            residency = AdapterResidency(
                self.store,
                batcher,
                self.folder.path / str(len(self.servers)),
                max_adapters=self.config.max_adapters,
                max_bytes=self.config.max_adapter_bytes,
            )
            server = self.servers[loaded.name] = ModelServer(wrapped, batcher, residency)
            check = asyncio.get_running_loop().create_task(_drop_deleted(residency))
            self._checks.add(check)  # held: the loop keeps only weak references to tasks
        return server

    @serve.multiplexed(max_num_models_per_replica=STUDENTS_PER_REPLICA)
    async def serves_student(self, routing_id: str) -> str:
        """Tells Serve's router that this replica serves the student (by pseudonym, as Serve
        shows it in metric labels), so their next requests prefer it (their adapter is likely
        resident here). Loading stays with the residency, which batches every student
        together; this is routing affinity only."""
        return routing_id

    async def generate(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        student_id: str | None = None,
        adapter: StudentAdapter | None = None,
    ) -> Generation:
        async for item in self.stream(messages, params, student_id, adapter):
            if isinstance(item, Generation):
                return item
        raise AssertionError("a stream always ends with its Generation")

    async def stream(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        student_id: str | None = None,
        adapter: StudentAdapter | None = None,
    ) -> AsyncIterator[str | GenerationStart | Generation]:
        """A GenerationStart, text chunks as they are produced, then the Generation. A caller
        that goes away (or the timeout) cancels the request, which frees its batch row at the
        next step."""
        if student_id is not None:
            await self.serves_student(pseudonym(student_id) or "")
        server = self._server(await asyncio.to_thread(self.chain.pick))
        name = server.loaded.name
        prompt_ids = server.loaded.chat_prompt_ids(messages)
        lease: AdapterLease | None = None
        if student_id is not None:
            lease = await server.residency.resolve(student_id, adapter)
        request = None
        try:
            choice = lease.choice if lease else None
            slot, weights = (choice.adapter_name, choice.weights) if choice else (None, None)
            request = server.batcher.submit(prompt_ids, params, slot, weights)
            served = lease is not None and lease.choice.adapter_name is not None
            yield GenerationStart(
                name,
                name != self.chain.primary,
                lease.choice.version if lease and served else None,
                lease.choice.fallback_reason if lease else None,
                len(prompt_ids),
            )
            async with asyncio.timeout(self.config.request_timeout_s):
                async for chunk in request:
                    yield chunk
                completion = await request.result()
        except TimeoutError:
            raise GenerationTimeout(
                f"generation took over {self.config.request_timeout_s:g} s"
            ) from None
        except GenerationFailed:
            self.chain.record(name, ok=False)  # repeated failures open this model's circuit
            raise
        finally:
            if request is not None and not request.done:
                request.cancel()
            if lease is not None:
                lease.release()
        self.chain.record(name, ok=True)
        yield Generation(
            completion,
            name,
            name != self.chain.primary,
            lease.choice.version if lease and served else None,
            lease.choice.fallback_reason if lease else None,
        )

    def close(self) -> None:
        """Stop the model threads (Serve calls __del__ when it stops a replica)."""
        for server in self.servers.values():
            server.batcher.close()
        self.servers.clear()

    __del__ = close

    def status(self) -> dict[str, object]:
        status = self.chain.status()
        status["batches"] = {
            name: {
                "active_rows": s.batcher.active_rows,
                "waiting": s.batcher.waiting_requests,
                "resident_adapters": len(s.residency.resident()),
            }
            for name, s in self.servers.items()
        }
        return status


async def _drop_deleted(residency: AdapterResidency) -> None:
    """For the replica's life: deleted students' weights leave its memory within seconds."""
    while True:
        await asyncio.sleep(DELETED_CHECK_S)
        await residency.drop_deleted()
