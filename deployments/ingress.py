"""Ingress: the HTTP front of the graph. It answers cache hits itself and otherwise runs the
preprocessor and the replicas through their handles."""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from ray.serve.handle import DeploymentHandle

from aivo.adapters import LiveAdapter, open_store
from aivo.api.app import create_api
from aivo.cache import (
    SingleFlight,
    cache_key,
    get_or_generate,
    is_cacheable,
    make_cache,
    storable,
)
from aivo.config import AppConfig
from aivo.curriculum.pipeline import PROMPT_VERSION, PreparedPrompt
from aivo.engine.generation import Generation
from aivo.engine.sampling import request_params
from aivo.errors import AivoError, InvalidRequest, RateLimited, ServiceUnavailable
from aivo.observability import GENERATED_TOKENS
from aivo.safety.output import check_output
from aivo.schemas import (
    AdapterInfo,
    AdapterRef,
    CloneJob,
    CloneRequest,
    GenerateRequest,
    GenerateResponse,
    InvalidateRequest,
    JobReport,
    StudentDeletion,
)
from aivo.security.keys import Principal, load_keyring
from aivo.security.limits import RateLimiter
from deployments import calls

READY_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Admitted:
    """A request past its checks: the adapter version to serve and its cache key (if any)."""

    request: GenerateRequest
    adapter: LiveAdapter | None  # the student's live adapter, read for this request
    key: str | None
    started: float


class Ingress:
    def __init__(
        self,
        config: AppConfig,
        preprocessor: DeploymentHandle,
        inference: DeploymentHandle,
        coordinator: DeploymentHandle,
    ) -> None:
        self.config = config
        self.preprocessor = preprocessor
        self.inference = inference
        self.coordinator = coordinator
        self.cache = make_cache(config.cache)
        self.flights = SingleFlight()
        self.adapters = open_store(config.storage)
        self.limits = RateLimiter(config.security, config.cache)
        self.open_streams: dict[str, int] = {}  # per API key, on this replica
        self.keys, dev_key = load_keyring(config.security)
        if dev_key is not None:  # the local default: a key so the README's curl works
            print(f"AIVO development API key ({config.security.dev_key_file}): {dev_key}")

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_api(self, self.config.security, self.keys)

    async def generate(
        self, request: GenerateRequest, request_id: str, principal: Principal
    ) -> GenerateResponse:
        admitted = await self._admit(request, principal)
        answer, cached = await get_or_generate(
            self.cache, self.flights, admitted.key, lambda: self._answer(admitted)
        )
        if not cached:
            await self.limits.spend(principal, answer["usage"]["completion_tokens"])
        return self._response(admitted, answer, cached, request_id)

    async def stream(
        self, request: GenerateRequest, request_id: str, principal: Principal
    ) -> AsyncIterator[str]:
        """Checks run before the first byte (so they answer with a status code); then SSE
        events: `chunk` per text piece, then `done` with the full response, or `error`."""
        release = self._open_stream(principal.key_id)
        try:
            admitted = await self._admit(request, principal)
            hit = await self.cache.get(admitted.key) if admitted.key else None
            prepared = None if hit else await calls.call(self.preprocessor.prepare, request)
        except BaseException:
            release()
            raise
        events = self._events(admitted, hit, prepared, request_id, principal, release)
        weakref.finalize(events, release)  # a body that never starts still frees its slot
        return events

    def _open_stream(self, key_id: str) -> Callable[[], None]:
        """Counts a stream against its key's cap from the moment it is asked for (so a burst
        cannot slip past the check); returns its release, which is safe to call twice."""
        open_streams = self.open_streams.get(key_id, 0)
        if open_streams >= self.config.security.max_concurrent_streams:
            raise RateLimited(
                f"this API key already has {open_streams} streams open; retry when one ends",
                retry_after_s=1,
            )
        self.open_streams[key_id] = open_streams + 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.open_streams[key_id] -= 1

        return release

    async def _events(
        self,
        admitted: Admitted,
        hit: dict[str, Any] | None,
        prepared: PreparedPrompt | None,
        request_id: str,
        principal: Principal,
        release: Callable[[], None],
    ) -> AsyncIterator[str]:
        try:
            if hit is not None:
                yield _event("chunk", {"text": hit["text"]})
                yield _event("done", self._response(admitted, hit, True, request_id).model_dump())
                return
            assert prepared is not None
            request, so_far, generation = admitted.request, "", None
            chunks = calls.stream(
                self._inference(admitted, stream=True).stream,
                prepared.messages,
                request_params(request, self.config.engine),
                *self._adapter_args(admitted),
            )
            async for item in chunks:
                if isinstance(item, Generation):
                    generation = item
                elif not check_output(so_far + item).flagged:  # unsafe text is never streamed
                    so_far += item
                    yield _event("chunk", {"text": item})
            assert generation is not None
            answer = await self._finish(admitted, prepared, generation)
            if admitted.key and storable(answer):
                await self.cache.set(admitted.key, answer)
            await self.limits.spend(principal, generation.completion.completion_tokens)
            yield _event("done", self._response(admitted, answer, False, request_id).model_dump())
        except AivoError as error:
            yield _event("error", {"error": {"code": error.code, "message": error.message}})
        finally:
            release()

    async def _admit(self, request: GenerateRequest, principal: Principal) -> Admitted:
        started = time.perf_counter()
        self._within_caps(request)
        await self.limits.admit(principal)
        adapter = None
        if request.student_id is not None:  # read fresh: a new version must never meet old answers
            adapter = await asyncio.to_thread(self.adapters.live, request.student_id)
        key = None
        if is_cacheable(request, self.config.cache):
            key = cache_key(
                request,
                model=self.config.engine.models[0].name,
                prompt_version=PROMPT_VERSION,
                adapter=adapter.tag if adapter else None,
            )
        return Admitted(request, adapter, key, started)

    def _within_caps(self, request: GenerateRequest) -> None:
        caps = self.config.security
        if request.max_tokens > caps.max_tokens:
            raise InvalidRequest(f"max_tokens: this deployment allows at most {caps.max_tokens}")
        if len(request.prompt) > caps.max_prompt_chars:
            raise InvalidRequest(
                f"prompt: this deployment allows at most {caps.max_prompt_chars} characters"
            )

    def _inference(self, admitted: Admitted, stream: bool = False) -> DeploymentHandle:
        """Requests with a student adapter prefer a replica that already serves the student."""
        student_id, _ = self._adapter_args(admitted)
        if student_id is None:
            return self.inference.options(stream=stream)
        return self.inference.options(stream=stream, multiplexed_model_id=student_id)

    @staticmethod
    def _adapter_args(admitted: Admitted) -> tuple[str | None, LiveAdapter | None]:
        if admitted.adapter is None:  # no live adapter: the base model serves
            return None, None
        return admitted.request.student_id, admitted.adapter

    async def _answer(self, admitted: Admitted) -> dict[str, Any]:
        request = admitted.request
        prepared = await calls.call(self.preprocessor.prepare, request)
        generation = await calls.call(
            self._inference(admitted).generate,
            prepared.messages,
            request_params(request, self.config.engine),
            *self._adapter_args(admitted),
        )
        return await self._finish(admitted, prepared, generation)

    async def _finish(
        self, admitted: Admitted, prepared: PreparedPrompt, generation: Generation
    ) -> dict[str, Any]:
        """The cacheable part of a response: nothing per-request, no student id."""
        finished = await calls.call(
            self.preprocessor.finish, admitted.request, generation.completion.text
        )
        GENERATED_TOKENS.inc(generation.completion.completion_tokens)
        return {
            "text": finished.text,
            "model": generation.model,
            "adapter_version": generation.adapter_version,
            "adapter_note": generation.adapter_note,
            "fallback_used": generation.fallback_used,
            "standards": [s.model_dump() for s in prepared.standards],
            "reading_level": finished.reading_level.model_dump()
            if finished.reading_level
            else None,
            "usage": {
                "prompt_tokens": generation.completion.prompt_tokens,
                "completion_tokens": generation.completion.completion_tokens,
            },
        }

    def _response(
        self, admitted: Admitted, answer: dict[str, Any], cached: bool, request_id: str
    ) -> GenerateResponse:
        fields = dict(answer)
        version = fields.pop("adapter_version")
        student_id = admitted.request.student_id
        return GenerateResponse(
            id=request_id,
            cached=cached,
            adapter=AdapterRef(student_id=student_id, version=version)
            if student_id is not None and version is not None
            else None,
            latency_ms=round((time.perf_counter() - admitted.started) * 1000, 2),
            **fields,
        )

    async def readiness(self) -> dict[str, Any]:
        try:  # while a replica restarts, Serve holds calls until one is up: do not wait
            async with asyncio.timeout(READY_TIMEOUT_S):
                inference = await calls.call(self.inference.status)
        except (TimeoutError, ServiceUnavailable):
            inference = {"ready": False, "reason": "no inference replica answers (restarting?)"}
        # A degraded cache costs latency, not answers: the service stays ready.
        return {
            "ready": bool(inference["ready"]),
            "cache": self.cache.state,
            "inference": inference,
        }

    async def invalidate_cache(self, target: InvalidateRequest) -> int:
        if target.student_id is not None:
            return await self.cache.invalidate_student(target.student_id)
        return await self.cache.invalidate_all()

    async def delete_student(self, student_id: str) -> StudentDeletion:
        # Jobs first: a clone still running must not publish after its student is gone.
        records = await self.coordinator.forget.remote(student_id)
        adapters = await asyncio.to_thread(self.adapters.delete_student, student_id)
        answers = await self.cache.invalidate_student(student_id)
        return StudentDeletion(
            student_id=student_id,
            removed={"adapter_files": adapters, "cached_answers": answers, **records},
        )

    async def clone(self, student_id: str, request: CloneRequest) -> CloneJob:
        if len(request.examples) > self.config.clone.max_examples:
            raise InvalidRequest(f"examples: at most {self.config.clone.max_examples}")
        dataset = "\n".join(json.dumps(line) for line in request.examples).encode()
        return CloneJob(**await self.coordinator.clone.remote(student_id, dataset))

    async def job(self, job_id: str) -> JobReport:
        return JobReport(**await self.coordinator.job.remote(job_id))

    async def adapter(self, student_id: str) -> AdapterInfo:
        return AdapterInfo(**await self.coordinator.adapter.remote(student_id))


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
