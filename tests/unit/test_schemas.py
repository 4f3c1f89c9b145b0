import pytest
from pydantic import ValidationError

from aivo.schemas import GenerateRequest, grade_number


def test_normalises_case_and_accommodations() -> None:
    r = GenerateRequest(
        prompt="What is a fraction?",
        grade_level="k",
        subject=" Math ",
        learning_style="Visual",
        accommodations=["ADHD", "dyslexia", "adhd"],
    )
    assert r.grade_level == "K"
    assert r.subject == "math"
    assert r.learning_style == "visual"
    assert r.accommodations == ["adhd", "dyslexia"]
    assert (r.max_tokens, r.temperature, r.stream, r.student_id) == (256, 0.0, False, None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prompt", ""),
        ("prompt", "   "),
        ("prompt", "x" * 4001),
        ("grade_level", "13"),
        ("grade_level", 3),
        ("subject", "astrology"),
        ("learning_style", "osmosis"),
        ("accommodations", ["sleepy"]),
        ("student_id", "../etc/passwd"),
        ("max_tokens", 0),
        ("max_tokens", 1025),
        ("temperature", 2.5),
        ("top_p", 0),
        ("top_p", 1.1),
        ("stop", ["a", "b", "c", "d", "e"]),
        ("stop", "x" * 65),
        ("stop", [""]),
        ("seed", -1),
        ("frequency_penalty", 2.1),
        ("presence_penalty", -2.1),
    ],
)
def test_invalid_field_is_named(field: str, value: object) -> None:
    body = {"prompt": "Why is the sky blue?", "grade_level": "4", "subject": "science"}
    body[field] = value
    with pytest.raises(ValidationError) as caught:
        GenerateRequest.model_validate(body)
    assert caught.value.errors()[0]["loc"][0] == field


def test_sampling_fields_default_off_and_one_stop_string_becomes_a_list() -> None:
    r = GenerateRequest(prompt="hi", grade_level="4", subject="math", stop="Bye")
    assert r.stop == ["Bye"]
    assert (r.top_p, r.seed, r.frequency_penalty, r.presence_penalty) == (1.0, None, 0.0, 0.0)


def test_unknown_field_refused() -> None:
    with pytest.raises(ValidationError):
        GenerateRequest.model_validate(
            {"prompt": "hi", "grade_level": "4", "subject": "math", "adapter_path": "/tmp/x"}
        )


def test_grade_number() -> None:
    assert [grade_number(g) for g in ("K", "1", "12")] == [0, 1, 12]
