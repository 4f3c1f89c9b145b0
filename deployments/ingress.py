"""Ingress: the HTTP front of the graph; it orchestrates the preprocessor and the replicas."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from ray.serve.handle import DeploymentHandle

from aivo.api.app import create_api
from aivo.config import AppConfig
from aivo.observability import GENERATED_TOKENS
from aivo.schemas import GenerateRequest, GenerateResponse, Usage


class Ingress:
    def __init__(
        self, config: AppConfig, preprocessor: DeploymentHandle, inference: DeploymentHandle
    ) -> None:
        self.config = config
        self.preprocessor = preprocessor
        self.inference = inference

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_api(self, self.config.security)

    async def generate(self, request: GenerateRequest, request_id: str) -> GenerateResponse:
        started = time.perf_counter()
        prepared = await self.preprocessor.prepare.remote(request)
        completion, model, fallback_used = await self.inference.generate.remote(
            prepared.messages, request.max_tokens, request.temperature
        )
        finished = await self.preprocessor.finish.remote(request, completion.text)
        GENERATED_TOKENS.inc(completion.completion_tokens)
        return GenerateResponse(
            id=request_id,
            text=finished.text,
            model=model,
            fallback_used=fallback_used,
            standards=prepared.standards,
            reading_level=finished.reading_level,
            usage=Usage(
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
            ),
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    async def readiness(self) -> dict[str, Any]:
        inference = await self.inference.status.remote()
        return {"ready": bool(inference["ready"]), "inference": inference}
