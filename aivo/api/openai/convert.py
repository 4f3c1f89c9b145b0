"""A chat completion request as AIVO's `GenerateRequest`: the one mapping of OpenAI's fields.

- The last message is the learner's question; it must be a user message.
- Earlier user and assistant messages are the `history` (student and tutor turns), cut from the
  oldest to fit (`memory.fit_history`).
- System (and developer) messages are the app's context: one student-side turn at the start of
  the history. So it is screened and redacted like the learner's own text, and it sits below
  AIVO's instructions (the prompt's first system message), which it can never replace.
- The tutoring fields come in the `aivo` object; `grade_level` and `subject` are required: the
  grade sets the reading level and what suits a child of that age, so it is never guessed.
- `temperature` and `max_tokens` default to AIVO's (0: deterministic and cacheable; 256).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from aivo.api.openai.errors import InvalidParameter
from aivo.api.openai.memory import Role, fit_history
from aivo.api.openai.schemas import ChatCompletionRequest, ChatMessage, TutoringFields
from aivo.schemas import GenerateRequest

# Fields AIVO does not serve; a request that sets one is refused by name.
UNSUPPORTED_FIELDS = (
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "response_format",
    "audio",
    "modalities",
)
# Values of those fields that ask for nothing (clients send them as defaults).
_UNSET: tuple[object, ...] = (None, False, 0, "none", [], {}, {"type": "text"}, ["text"])

# OpenAI's sampling fields, forwarded to `GenerateRequest` under the same names.
SAMPLING_FIELDS = ("top_p", "stop", "seed", "frequency_penalty", "presence_penalty")

_ROLES: dict[str, Role] = {"user": "student", "assistant": "tutor"}
_CONTEXT_ROLES = ("system", "developer")
_FIELD_NAMES = {"prompt": "messages", "history": "messages", "student_id": "model"}


@dataclass(frozen=True)
class Conversion:
    request: GenerateRequest
    history_truncated: bool  # the oldest turns (or the end of long ones) were left out


def chat_to_generate(body: ChatCompletionRequest, student_id: str | None) -> Conversion:
    """`student_id`: the student whose model `body.model` names (None: the base model)."""
    _refuse_unsupported(body)
    context, turns, question = _conversation(body.messages)
    history, truncated = fit_history(context, turns)
    max_name = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
    fields: dict[str, Any] = {
        "prompt": question,
        "history": history,
        "student_id": student_id,
        "max_tokens": body.max_completion_tokens or body.max_tokens,
        "temperature": body.temperature,
        "stream": bool(body.stream),
        **_tutoring(body.aivo),
        **_sampling(body),
    }
    try:
        request = GenerateRequest.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "aivo"
        if name in TutoringFields.model_fields:
            param = f"aivo.{name}"
        else:
            param = max_name if name == "max_tokens" else _FIELD_NAMES.get(name, name)
        raise InvalidParameter(param, first["msg"]) from None
    return Conversion(request, truncated)


def _refuse_unsupported(body: ChatCompletionRequest) -> None:
    for name in UNSUPPORTED_FIELDS:
        if getattr(body, name) not in _UNSET:
            raise InvalidParameter(name, "AIVO does not support it", code="unsupported_parameter")
    if body.n not in (None, 1):
        raise InvalidParameter("n", "AIVO answers one choice (n: 1)", code="unsupported_value")


def _sampling(body: ChatCompletionRequest) -> dict[str, Any]:
    given = {name: getattr(body, name) for name in SAMPLING_FIELDS}
    if isinstance(given["stop"], str):
        given["stop"] = [given["stop"]]
    return {name: value for name, value in given.items() if value is not None}


def _tutoring(fields: TutoringFields | None) -> dict[str, Any]:
    if fields is None:
        raise InvalidParameter(
            "aivo",
            "the tutoring fields are required: send "
            '"aivo": {"grade_level": "5", "subject": "math"} (the SDKs: extra_body)',
            code="missing_required_parameter",
        )
    return {**fields.model_dump(exclude_none=True), "grade_level": str(fields.grade_level)}


def _conversation(
    messages: list[ChatMessage],
) -> tuple[str | None, list[tuple[Role, str]], str]:
    """The app's context (system messages), the earlier turns, and the learner's question."""
    for i, message in enumerate(messages):
        if message.role not in (*_ROLES, *_CONTEXT_ROLES) or message.tool_calls:
            reason = "tool and function calls are not supported"
            raise InvalidParameter(f"messages[{i}]", reason, code="unsupported_value")
    *earlier, last = messages
    if last.role != "user":
        raise InvalidParameter(
            f"messages[{len(earlier)}].role", "the last message must be the learner's (role user)"
        )
    context: list[str] = []
    turns: list[tuple[Role, str]] = []
    for i, message in enumerate(earlier):
        text = _text(message, i)
        if text and message.role in _CONTEXT_ROLES:
            context.append(text)
        elif text:
            turns.append((_ROLES[message.role], text))
    question = _text(last, len(earlier))
    return ("\n".join(context) if context else None), turns, question


def _text(message: ChatMessage, index: int) -> str:
    if message.content is None or isinstance(message.content, str):
        return (message.content or "").strip()
    texts = []
    for j, part in enumerate(message.content):
        if part.type != "text" or part.text is None:
            raise InvalidParameter(
                f"messages[{index}].content[{j}]",
                f"AIVO reads text parts only, not {part.type!r}",
                code="unsupported_value",
            )
        texts.append(part.text)
    return "\n".join(texts).strip()
