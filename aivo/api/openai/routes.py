"""The OpenAI-compatible routes, through the same service as `/v1/generate`: `POST
/v1/chat/completions`, `GET /v1/models`, `GET /v1/models/{model_id}`.

No `from __future__ import annotations` here: FastAPI must evaluate the route annotations.
Students' models are the key's tenant's only, and are listed and described only to keys with
the `students:read` scope (a student id is a student's data); any key may chat with its
tenant's student's model by id, as `/v1/generate` takes its tenant's `student_id`.
"""

import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Protocol

from fastapi import FastAPI, Path, Request
from fastapi.responses import StreamingResponse

from aivo.adapters import Manifest
from aivo.api.openai.convert import chat_to_generate
from aivo.api.openai.models import base_card, model_not_found, student_card, student_of
from aivo.api.openai.replies import Reply, completion_chunks
from aivo.api.openai.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    ModelCard,
    ModelList,
    OpenAIErrorResponse,
)
from aivo.schemas import GenerateRequest, GenerateResponse
from aivo.security.keys import Principal

OPENAI_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorResponse}
    for status in (400, 401, 403, 404, 408, 413, 429, 503, 504)
}


class ChatService(Protocol):
    """What these routes call; `aivo.service.TutorService` implements it."""

    async def generate(
        self, request: GenerateRequest, request_id: str, principal: Principal
    ) -> GenerateResponse: ...

    async def stream(
        self, request: GenerateRequest, request_id: str, principal: Principal
    ) -> AsyncIterator[str]: ...

    async def student_model(self, tenant: str, student_id: str) -> Manifest | None: ...

    async def student_models(self, tenant: str) -> list[tuple[str, Manifest]]: ...


def add_openai_routes(app: FastAPI, service: ChatService, scoped: Callable[..., Any]) -> None:
    """`scoped(scope, counted=True)`: the dependency that checks a key has that scope (and
    counts the request against its rate limit unless the service admits it)."""
    started = int(time.time())  # the base model's `created`

    @app.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        responses={
            **OPENAI_ERRORS,
            200: {
                "description": "The answer; with `stream: true`, `chat.completion.chunk` "
                "server-sent events ending with `data: [DONE]`.",
                "content": {"text/event-stream": {}},
            },
        },
        tags=["OpenAI-compatible"],
    )
    async def chat_completions(
        body: ChatCompletionRequest,
        request: Request,
        principal: Annotated[Principal, scoped("generate", counted=False)],
    ) -> ChatCompletion | StreamingResponse:
        """OpenAI's chat completions; the tutoring fields in `aivo` (SDKs: `extra_body`)."""
        student_id = student_of(body.model)
        if (
            student_id is not None
            and await service.student_model(principal.tenant, student_id) is None
        ):
            raise model_not_found(body.model)
        conversion = chat_to_generate(body, student_id)
        request_id = request.state.request_id
        reply = Reply(
            f"chatcmpl-{request_id}", int(time.time()), body.model, conversion.history_truncated
        )
        if body.stream:
            events = await service.stream(conversion.request, request_id, principal)
            include_usage = body.stream_options is not None and body.stream_options.include_usage
            chunks = completion_chunks(events, reply, include_usage)
            return StreamingResponse(chunks, media_type="text/event-stream")
        return reply.completion(await service.generate(conversion.request, request_id, principal))

    @app.get(
        "/v1/models", response_model=ModelList, responses=OPENAI_ERRORS, tags=["OpenAI-compatible"]
    )
    async def models(principal: Annotated[Principal, scoped("generate")]) -> ModelList:
        cards = [base_card(started)]
        if "students:read" in principal.scopes:
            students = await service.student_models(principal.tenant)
            cards += [student_card(student_id, manifest) for student_id, manifest in students]
        return ModelList(data=cards)

    @app.get(
        "/v1/models/{model_id}",
        response_model=ModelCard,
        responses=OPENAI_ERRORS,
        tags=["OpenAI-compatible"],
    )
    async def model(
        model_id: Annotated[str, Path(max_length=200)],
        principal: Annotated[Principal, scoped("generate")],
    ) -> ModelCard:
        student_id = student_of(model_id)
        if student_id is None:
            return base_card(started)
        manifest = None
        if "students:read" in principal.scopes:
            manifest = await service.student_model(principal.tenant, student_id)
        if manifest is None:
            raise model_not_found(model_id)
        return student_card(student_id, manifest)
