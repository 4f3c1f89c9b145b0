"""The OpenAI compatibility layer's pure parts: chat messages to a GenerateRequest, conversation
memory, model ids, the error mapping and the service's event format."""

from __future__ import annotations

from typing import Any

import pytest

from aivo.api.openai.convert import SAMPLING_FIELDS, chat_to_generate
from aivo.api.openai.errors import InvalidParameter, is_openai_route, openai_error
from aivo.api.openai.memory import APP_CONTEXT, HISTORY_CHARS, fit_history
from aivo.api.openai.models import student_model_id, student_of
from aivo.api.openai.schemas import ChatCompletionRequest
from aivo.errors import ModelNotFound
from aivo.schemas import MAX_HISTORY_TURNS, MAX_TURN_CHARS, GenerateRequest, Turn
from aivo.service.streams import event, parse_event

TUTORING = {"grade_level": "4", "subject": "math"}


def chat(*messages: tuple[str, Any], **fields: Any) -> ChatCompletionRequest:
    body = {
        "model": "aivo-tutor",
        "messages": [{"role": role, "content": content} for role, content in messages],
        "aivo": TUTORING,
        **fields,
    }
    return ChatCompletionRequest.model_validate(body)


def refused(body: ChatCompletionRequest) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as caught:
        chat_to_generate(body, None)
    return caught.value


def test_the_last_user_message_is_the_question_and_earlier_turns_the_history() -> None:
    body = chat(
        ("user", "What is 24 + 18?"),
        ("assistant", "Add the tens first."),
        ("user", [{"type": "text", "text": "Can I have a hint"}, {"type": "text", "text": "?"}]),
        aivo={**TUTORING, "mode": "hint", "accommodations": ["ADHD"]},
        max_tokens=40,
        temperature=0.5,
        user="learner-17",
        stream=True,
    )
    converted = chat_to_generate(body, "amy")
    request = converted.request
    assert request.prompt == "Can I have a hint\n?"
    assert request.history == [
        Turn(role="student", text="What is 24 + 18?"),
        Turn(role="tutor", text="Add the tens first."),
    ]
    assert (request.student_id, request.max_tokens, request.temperature) == ("amy", 40, 0.5)
    assert (request.mode, request.accommodations, request.stream) == ("hint", ["adhd"], True)
    assert converted.history_truncated is False


def test_system_messages_are_one_context_turn_before_the_conversation() -> None:
    body = chat(
        ("user", "What is a noun?"),
        ("system", "The class reads Charlotte's Web."),
        ("assistant", "A noun names a thing."),
        ("developer", "Use short sentences."),
        ("user", "Give me one more example."),
    )
    history = chat_to_generate(body, None).request.history
    context = APP_CONTEXT + "The class reads Charlotte's Web.\nUse short sentences."
    assert history[0] == Turn(role="student", text=context)
    assert [turn.text for turn in history[1:]] == ["What is a noun?", "A noun names a thing."]


def test_aivo_defaults_apply_when_the_client_sets_nothing() -> None:
    request = chat_to_generate(chat(("user", "What is 3 + 4?")), None).request
    assert request == GenerateRequest(prompt="What is 3 + 4?", grade_level="4", subject="math")


def test_max_completion_tokens_wins_over_max_tokens_and_grade_may_be_a_number() -> None:
    body = chat(
        ("user", "hi"), max_tokens=10, max_completion_tokens=20, aivo={**TUTORING, "grade_level": 7}
    )
    request = chat_to_generate(body, None).request
    assert (request.max_tokens, request.grade_level) == (20, "7")


def test_without_the_tutoring_fields_the_request_is_refused_saying_how_to_send_them() -> None:
    error = refused(chat(("user", "hi"), aivo=None))
    assert (error.param, error.code, error.status) == ("aivo", "missing_required_parameter", 400)
    assert "extra_body" in error.message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"aivo": {**TUTORING, "grade_level": "13"}}, "aivo.grade_level"),
        ({"aivo": {**TUTORING, "subject": "alchemy"}}, "aivo.subject"),
        ({"aivo": {**TUTORING, "mode": "check"}}, "aivo"),  # check needs student_answer
        ({"max_completion_tokens": 5000}, "max_completion_tokens"),
        ({"max_tokens": 5000}, "max_tokens"),
    ],
)
def test_invalid_values_are_named_as_the_client_spelled_them(
    fields: dict[str, Any], param: str
) -> None:
    assert refused(chat(("user", "hi"), **fields)).param == param


def test_an_empty_question_names_the_messages() -> None:
    assert refused(chat(("user", "   "))).param == "messages"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ],
)
def test_unsupported_fields_are_refused_by_name(fields: dict[str, Any], param: str) -> None:
    error = refused(chat(("user", "hi"), **fields))
    assert (error.param, error.code) == (param, "unsupported_parameter")


def test_unsupported_fields_at_their_neutral_values_and_unknown_fields_pass() -> None:
    body = chat(
        ("user", "hi"),
        tools=[],
        logprobs=False,
        response_format={"type": "text"},
        modalities=["text"],
        n=1,
        top_p=1,
        frequency_penalty=0,
        presence_penalty=0,
        stream_options={"include_usage": True},
        store=True,
        metadata={"a": "b"},
        reasoning_effort="low",
    )
    assert chat_to_generate(body, None).request.prompt == "hi"


def test_more_than_one_choice_is_refused() -> None:
    assert (refused(chat(("user", "hi"), n=2)).param, 400) == ("n", 400)


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([("user", [{"type": "image_url", "image_url": {"url": "x"}}])], "messages[0].content[0]"),
        ([("user", "hi"), ("assistant", "hello")], "messages[1].role"),
        ([("user", "hi"), ("tool", "42"), ("user", "and?")], "messages[1]"),
    ],
)
def test_messages_aivo_cannot_read_are_named(messages: list[tuple[str, Any]], param: str) -> None:
    assert refused(chat(*messages)).param == param


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("top_p", 0.5),
        ("stop", ["\n"]),
        ("seed", 7),
        ("frequency_penalty", 1.0),
        ("presence_penalty", -1.0),
    ],
)
def test_sampling_fields_are_forwarded(name: str, value: Any) -> None:
    assert name in SAMPLING_FIELDS
    body = chat(("user", "hi"), **{name: value})
    assert getattr(chat_to_generate(body, None).request, name) == value


def turns(count: int, chars: int = 10) -> list[tuple[Any, str]]:
    return [("student" if i % 2 == 0 else "tutor", f"{i:0{chars}d}") for i in range(count)]


def test_a_conversation_that_fits_is_kept_whole() -> None:
    history, cut = fit_history("Use short sentences.", turns(MAX_HISTORY_TURNS - 1))
    assert len(history) == MAX_HISTORY_TURNS and cut is False


def test_too_many_turns_lose_the_oldest_and_keep_the_context() -> None:
    given = turns(MAX_HISTORY_TURNS + 5)
    history, cut = fit_history("Use short sentences.", given)
    assert cut is True and len(history) == MAX_HISTORY_TURNS
    assert history[0].text == APP_CONTEXT + "Use short sentences."
    assert [t.text for t in history[1:]] == [text for _, text in given[-(MAX_HISTORY_TURNS - 1) :]]


def test_too_many_characters_lose_the_oldest_turns() -> None:
    given = turns(10, chars=MAX_TURN_CHARS)  # 20,000 characters
    history, cut = fit_history(None, given)
    assert cut is True
    assert sum(len(t.text) for t in history) <= HISTORY_CHARS
    assert [t.text for t in history] == [text for _, text in given[-len(history) :]]


def test_a_turn_over_the_turn_limit_keeps_its_start() -> None:
    history, cut = fit_history(None, [("tutor", "a" * MAX_TURN_CHARS + "b")])
    assert cut is True and history == [Turn(role="tutor", text="a" * MAX_TURN_CHARS)]


def test_model_ids_name_the_base_model_or_a_student() -> None:
    assert student_of("aivo-tutor") is None
    assert student_of(student_model_id("amy-2")) == "amy-2"
    for unknown in ("gpt-4o", "aivo-tutor:student:", "aivo-tutor:student:../x", "aivo-tutor:x"):
        with pytest.raises(ModelNotFound):
            student_of(unknown)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (422, "invalid_request", (400, "invalid_request_error", "invalid_value")),
        (400, "prompt_rejected", (400, "invalid_request_error", "prompt_rejected")),
        (401, "unauthorized", (401, "invalid_request_error", "invalid_api_key")),
        (403, "forbidden", (403, "permission_error", "insufficient_permissions")),
        (404, "model_not_found", (404, "invalid_request_error", "model_not_found")),
        (429, "rate_limited", (429, "rate_limit_error", "rate_limit_exceeded")),
        (503, "overloaded", (503, "server_error", "overloaded")),
    ],
)
def test_aivo_errors_in_openai_shape(status: int, code: str, expected: tuple[str, ...]) -> None:
    answered, body = openai_error(status, code, "why", "field")
    error = body["error"]
    assert (answered, error["type"], error["code"]) == expected
    assert (error["message"], error["param"]) == ("why", "field")


def test_only_the_openai_routes_answer_in_openai_shape() -> None:
    assert is_openai_route("/v1/chat/completions")
    assert is_openai_route("/prefix/v1/models/aivo-tutor:student:amy")
    assert not is_openai_route("/v1/generate")
    assert not is_openai_route("/v1/students/amy/adapter")


def test_service_events_parse_back() -> None:
    assert parse_event(event("chunk", {"text": "a\nb"})) == ("chunk", {"text": "a\nb"})
