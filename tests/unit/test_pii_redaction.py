"""Personal data never reaches a learner or a clone: names, streamed answers, training data."""

from __future__ import annotations

import json

import pytest

from aivo.safety.pii import STREAM_HOLD_CHARS, StreamRedactor, redact_pii
from aivo.training.dataset import parse_dataset

CHILD = (
    "Hi! My name is Maya Lopez and my email is maya.lopez@example.com, call 555-201-3344 or "
    "come to 42 Maple Street, Springfield, IL 62704 after school. I am called Ann Lee at home. "
    "My teacher is Mrs. Ortiz.\nmy number is 555 201 3344 and my student id: AB123456 thanks"
)
DATA = ("Maya", "Lopez", "maya.lopez", "201-3344", "201 3344", "Maple", "Ann Lee", "Ortiz", "AB1")


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("Hi, my name is Maya Lopez and I need help.", "Hi, my name is [name] and I need help."),
        ("My name's Jo. What is 7 x 8?", "My name's [name]. What is 7 x 8?"),
        ("I'm called Sam O'Neil", "I'm called [name]"),
        ("Call me Ava-Grace please", "Call me [name] please"),
        ("My teacher is Mrs. Ortiz.", "My teacher is [name]."),
        ("my best friend is named Liam Chen", "my best friend is named [name]"),
        ("Our principal was Dr. Amy Hall.", "Our principal was [name]."),
        ("Name: Priya Patel\nGrade 4", "Name: [name]\nGrade 4"),
    ],
)
def test_names_said_to_be_someones_are_redacted(text: str, redacted: str) -> None:
    result = redact_pii(text)
    assert (result.text, result.kinds) == (redacted, ("name",))


@pytest.mark.parametrize(
    "lesson",
    [
        "Dr. Martin Luther King Jr. gave his speech in Washington in 1963.",
        "Abraham Lincoln was the 16th president.",
        "My name is written on the board.",
        "Call me when you finish the worksheet.",
        "Mr. Rogers taught kindness.",
        "My teacher is happy with the work.",
    ],
)
def test_the_names_a_lesson_is_about_stay(lesson: str) -> None:
    assert redact_pii(lesson).text == lesson


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 40])
def test_a_streamed_answer_never_sends_personal_data_in_any_chunking(size: int) -> None:
    redactor, sent = StreamRedactor(), []
    for start in range(0, len(CHILD), size):
        sent.append(redactor.feed(CHILD[start : start + size]))
        assert not any(datum in "".join(sent) for datum in DATA), "".join(sent)
    sent.append(redactor.close())
    assert "".join(sent) == redact_pii(CHILD).text
    assert not any(datum in "".join(sent) for datum in DATA)


def test_prose_streams_promptly_with_a_bounded_hold() -> None:
    prose = "The water cycle moves water from the sea to the sky and back as rain. " * 40
    redactor, sent = StreamRedactor(), 0
    for start in range(0, len(prose), 4):
        sent += len(redactor.feed(prose[start : start + 4]))
        held = start + 4 - sent
        assert held <= 40, held  # three words: prose has nothing that could begin a datum
    text = "I have 3 apples and 4 pears, so 7 in all. " * 20
    redactor, sent = StreamRedactor(), 0
    for start in range(0, len(text), 4):
        sent += len(redactor.feed(text[start : start + 4]))
        assert start + 4 - sent <= STREAM_HOLD_CHARS + 40  # digits hold at most the window


def test_clone_training_data_is_redacted_in_every_turn() -> None:
    lines = [
        {"prompt": "My name is Maya Lopez, email maya.lopez@example.com", "response": "Hi there!"},
        {
            "messages": [
                {"role": "user", "content": "I live at 42 Maple Street. How far is the park?"},
                {"role": "assistant", "content": "Ask your teacher Mrs. Ortiz, or 555-201-3344."},
            ]
        },
    ]
    raw = "\n".join(json.dumps(line) for line in lines).encode()
    trained_on = json.dumps([example.messages for example in parse_dataset(raw).examples])
    assert not any(datum in trained_on for datum in DATA), trained_on
    for placeholder in ("[name]", "[email]", "[address]", "[phone]"):
        assert placeholder in trained_on
    assert "How far is the park?" in trained_on
