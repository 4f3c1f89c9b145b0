"""Ingress: the HTTP front of the graph. It answers cache hits itself and otherwise runs the
preprocessor and the replicas through their handles."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI
from ray.serve.handle import DeploymentHandle

from aivo.adapters import open_store
from aivo.api.app import create_api
from aivo.cache import SingleFlight, cache_key, get_or_generate, is_cacheable, make_cache
from aivo.config import AppConfig
from aivo.curriculum.pipeline import PROMPT_VERSION
from aivo.errors import InvalidRequest
from aivo.observability import GENERATED_TOKENS
from aivo.schemas import (
    AdapterRef,
    GenerateRequest,
    GenerateResponse,
    InvalidateRequest,
    StudentDeletion,
)
from aivo.security.keys import Principal, load_keyring
from aivo.security.limits import RateLimiter


class Ingress:
    def __init__(
        self, config: AppConfig, preprocessor: DeploymentHandle, inference: DeploymentHandle
    ) -> None:
        self.config = config
        self.preprocessor = preprocessor
        self.inference = inference
        self.cache = make_cache(config.cache)
        self.flights = SingleFlight()
        self.adapters = open_store(config.storage)
        self.limits = RateLimiter(config.security, config.cache)
        self.keys, dev_key = load_keyring(config.security)
        if dev_key is not None:  # the local default: a key so the README's curl works
            print(f"AIVO development API key ({config.security.dev_key_file}): {dev_key}")

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_api(self, self.config.security, self.keys)

    async def generate(
        self, request: GenerateRequest, request_id: str, principal: Principal
    ) -> GenerateResponse:
        started = time.perf_counter()
        self._within_caps(request)
        await self.limits.admit(principal)
        adapter_version = None
        if request.student_id is not None:  # read fresh: a new version must never meet old answers
            adapter_version = await asyncio.to_thread(
                self.adapters.live_version, request.student_id
            )
        key = None
        if is_cacheable(request, self.config.cache):
            key = cache_key(
                request,
                model=self.config.engine.models[0].name,
                prompt_version=PROMPT_VERSION,
                adapter_version=adapter_version,
            )
        answer, cached = await get_or_generate(
            self.cache, self.flights, key, lambda: self._answer(request)
        )
        if not cached:
            await self.limits.spend(principal, answer["usage"]["completion_tokens"])
        version = answer.pop("adapter_version")
        return GenerateResponse(
            id=request_id,
            cached=cached,
            adapter=AdapterRef(student_id=request.student_id, version=version)
            if request.student_id is not None and version is not None
            else None,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            **answer,
        )

    def _within_caps(self, request: GenerateRequest) -> None:
        caps = self.config.security
        if request.max_tokens > caps.max_tokens:
            raise InvalidRequest(f"max_tokens: this deployment allows at most {caps.max_tokens}")
        if len(request.prompt) > caps.max_prompt_chars:
            raise InvalidRequest(
                f"prompt: this deployment allows at most {caps.max_prompt_chars} characters"
            )

    async def _answer(self, request: GenerateRequest) -> dict[str, Any]:
        """The cacheable part of a response: nothing per-request, no student id."""
        prepared = await self.preprocessor.prepare.remote(request)
        completion, model, fallback_used = await self.inference.generate.remote(
            prepared.messages, request.max_tokens, request.temperature
        )
        finished = await self.preprocessor.finish.remote(request, completion.text)
        GENERATED_TOKENS.inc(completion.completion_tokens)
        return {
            "text": finished.text,
            "model": model,
            "adapter_version": None,
            "fallback_used": fallback_used,
            "standards": [s.model_dump() for s in prepared.standards],
            "reading_level": finished.reading_level.model_dump()
            if finished.reading_level
            else None,
            "usage": {
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
            },
        }

    async def readiness(self) -> dict[str, Any]:
        inference = await self.inference.status.remote()
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
        adapters = await asyncio.to_thread(self.adapters.delete_student, student_id)
        answers = await self.cache.invalidate_student(student_id)
        return StudentDeletion(
            student_id=student_id, removed={"adapter_files": adapters, "cached_answers": answers}
        )
