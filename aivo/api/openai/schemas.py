"""OpenAI's chat completion, model and error shapes: as much of them as AIVO serves.

Requests ignore unknown fields (clients send many). Fields AIVO cannot honour are declared, so
that `convert` refuses them by name instead of ignoring them. Responses carry AIVO's own fields
under `aivo`, where OpenAI clients keep them as extra fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from aivo.schemas import AdapterRef, FinishReason, ReadingLevel, StandardMatch, Verification


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ContentPart(_Lenient):
    type: str
    text: str | None = None


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[Any] | None = None


class StreamOptions(_Lenient):
    include_usage: StrictBool = False


class TutoringFields(BaseModel):
    """AIVO's tutoring fields; the official SDKs send them with `extra_body={"aivo": {...}}`.
    Validated as `/v1/generate` validates them (see `GenerateRequest`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # a misspelt field must not pass

    grade_level: str | int = Field(description='"K" or "1".."12": sets the reading level.')
    subject: str = Field(description="math, ela, science or social_studies.")
    learning_style: str | None = None
    accommodations: list[str] = Field(default_factory=list)
    mode: str = "explain"
    student_answer: str | None = None


class ChatCompletionRequest(_Lenient):
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    n: int | None = Field(None, ge=1)
    stream: StrictBool | None = None
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, description="Accepted and ignored: never stored or logged.")
    aivo: TutoringFields | None = None
    # Declared only to be refused by name (`convert.UNSUPPORTED_FIELDS`).
    tools: Any = None
    tool_choice: Any = None
    functions: Any = None
    function_call: Any = None
    logprobs: Any = None
    top_logprobs: Any = None
    logit_bias: Any = None
    response_format: Any = None
    audio: Any = None
    modalities: Any = None


class AivoExtras(BaseModel):
    """What `/v1/generate` answers beyond the text."""

    standards: list[StandardMatch]
    verification: Verification | None
    key_idea: str | None = Field(description="The vetted key idea (its id) the question is on.")
    reading_level: ReadingLevel | None
    cached: bool
    adapter: AdapterRef | None
    adapter_note: str | None
    fallback_used: bool
    history_truncated: bool = Field(
        description="Whether the oldest turns of the conversation were left out to fit."
    )
    engine_model: str = Field(description="The model that wrote the answer.")
    latency_ms: float


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[Choice]
    usage: CompletionUsage
    aivo: AivoExtras


class ChoiceDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChoiceDelta
    finish_reason: FinishReason | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None
    aivo: AivoExtras | None = Field(None, description="On the chunk that ends the answer.")


class ModelDetails(BaseModel):
    adapter_version: int = Field(description="The student's live adapter version.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "aivo"
    parent: str | None = Field(None, description="A student's model: the base model's id.")
    aivo: ModelDetails | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorResponse(BaseModel):
    error: OpenAIErrorBody
