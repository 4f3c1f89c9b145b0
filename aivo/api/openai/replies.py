"""AIVO's answers in OpenAI's shapes: a `chat.completion`, or the service's server-sent events
translated into `chat.completion.chunk` events ending with `data: [DONE]`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from aivo.api.openai.errors import openai_error
from aivo.api.openai.schemas import (
    AivoExtras,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    CompletionUsage,
)
from aivo.curriculum.prepared import PROMPT_VERSION
from aivo.schemas import GenerateResponse
from aivo.service.streams import parse_event

# What changes answers to the same request besides the weights the model id names.
SYSTEM_FINGERPRINT = f"fp_aivo_prompt_v{PROMPT_VERSION}"
DONE = "data: [DONE]\n\n"


@dataclass(frozen=True)
class Reply:
    """What every part of one answer carries."""

    id: str
    created: int
    model: str  # the model id the client asked for
    history_truncated: bool

    def completion(self, response: GenerateResponse) -> ChatCompletion:
        message = AssistantMessage(content=response.text)
        return ChatCompletion(
            id=self.id,
            created=self.created,
            model=self.model,
            system_fingerprint=SYSTEM_FINGERPRINT,
            choices=[Choice(message=message, finish_reason=response.finish_reason)],
            usage=usage(response),
            aivo=self.extras(response),
        )

    def chunk(self, choices: list[ChunkChoice], **fields: Any) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self.id,
            created=self.created,
            model=self.model,
            system_fingerprint=SYSTEM_FINGERPRINT,
            choices=choices,
            **fields,
        )

    def extras(self, response: GenerateResponse) -> AivoExtras:
        return AivoExtras(
            standards=response.standards,
            verification=response.verification,
            key_idea=response.key_idea,
            reading_level=response.reading_level,
            cached=response.cached,
            adapter=response.adapter,
            adapter_note=response.adapter_note,
            fallback_used=response.fallback_used,
            history_truncated=self.history_truncated,
            engine_model=response.model,
            latency_ms=response.latency_ms,
        )


def usage(response: GenerateResponse) -> CompletionUsage:
    prompt, completion = response.usage.prompt_tokens, response.usage.completion_tokens
    return CompletionUsage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


async def completion_chunks(
    events: AsyncIterator[str], reply: Reply, include_usage: bool
) -> AsyncIterator[str]:
    """The service's `chunk` events as content deltas (and a `replace`, which comes only after
    a safe start, as the last one); its `done` as the chunk that ends the choice (with AIVO's
    fields; `content_filter` after a replacement), then usage if asked for; its `error` as an
    error event."""
    try:
        yield _data(reply.chunk([ChunkChoice(delta=ChoiceDelta(role="assistant", content=""))]))
        async for raw in events:
            name, data = parse_event(raw)
            if name == "chunk":
                yield _data(reply.chunk([ChunkChoice(delta=ChoiceDelta(content=data["text"]))]))
            elif name == "replace":  # deltas only add: the replacement ends the content
                content = "\n\n" + data["text"]
                yield _data(reply.chunk([ChunkChoice(delta=ChoiceDelta(content=content))]))
            elif name == "done":
                response = GenerateResponse.model_validate(data)
                end = ChunkChoice(delta=ChoiceDelta(), finish_reason=response.finish_reason)
                yield _data(reply.chunk([end], aivo=reply.extras(response)))
                if include_usage:
                    yield _data(reply.chunk([], usage=usage(response)))
            else:
                error = data["error"]
                _, body = openai_error(500, error["code"], error["message"])
                yield _data(body)
        yield DONE
    finally:
        await events.aclose()  # type: ignore[attr-defined]  # a client that left stops the answer


def _data(payload: BaseModel | dict[str, Any]) -> str:
    if isinstance(payload, BaseModel):
        return f"data: {payload.model_dump_json()}\n\n"
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"
