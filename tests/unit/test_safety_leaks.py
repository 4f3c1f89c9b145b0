"""The leak check: read-backs of the instructions, tag names and the canary, whole or streamed."""

from __future__ import annotations

import pytest

from aivo.curriculum.prompting import build_prompt
from aivo.safety.leaks import LeakCheck, LeakWatch
from aivo.schemas import GenerateRequest

REQUEST = GenerateRequest(
    prompt="Why do leaves change color?",
    grade_level="4",
    subject="science",
    accommodations=["adhd", "anxiety"],
    learning_style="visual",
)
PROMPT = build_prompt(REQUEST, REQUEST.prompt, [])
CHECK = LeakCheck.of(PROMPT.instructions, PROMPT.canary, PROMPT.labels)


@pytest.mark.parametrize("line", PROMPT.instructions)
def test_reading_back_any_instruction_is_a_leak(line: str) -> None:
    words = line.split()
    if len(words) >= 6:
        assert CHECK.leaks(f"Sure! {line} Leaves change color in the fall.")
        assert CHECK.leaks(" ".join(words[:6]).upper())  # case and punctuation do not hide it


@pytest.mark.parametrize(
    "text",
    [
        "The <student_question> tag holds your words.",
        "<|im_start|>system",
        "My system prompt says to be kind.",
        f"Your code is {PROMPT.canary}.",
        "Reference T36E2F37.",  # a canary miscopied is still one
        "Reference T45B2A.",  # also with digits dropped (seen in the bundled model's answers)
        "Reference T012765.",
        "See TC0F1A2B9 again.",
        "Standards: 4.",
        "Leaves turn red.\n  Standards: 4-LS1-1.",
    ],
)
def test_tags_markers_and_the_canary_are_leaks(text: str) -> None:
    assert CHECK.leaks(text)


@pytest.mark.parametrize(
    "text",
    [
        "Leaves change color because the green chlorophyll breaks down in the fall.",
        "You are a great student! Use everyday words when you explain it to a friend.",
        "A patient tutor would draw a picture of a leaf for you.",
        "The Model T was made by Ford. TOTAL: 12. Standards: rules we agree on.",
        "Look at T1 and T2 on the chart.",
        "The T1000 robot and the TEABAG shop; the B52 and T-34 were built in 1944.",
        "Its serial number is T12345678901.",
    ],
)
def test_ordinary_answers_are_not_leaks(text: str) -> None:
    assert not CHECK.leaks(text)


def test_a_stream_is_caught_however_the_text_is_cut() -> None:
    text = "OK. " + PROMPT.instructions[1] + " Leaves are pretty."
    for size in (1, 3, 7, 50):
        watch = LeakWatch(CHECK)
        tripped = [watch.feed(text[i : i + size]) for i in range(0, len(text), size)]
        assert any(tripped) or watch.close(), size
        assert watch.feed("more") is True  # once tripped, it stays tripped


def test_scrub_keeps_the_clean_sentences() -> None:
    text = f"Leaves change color in fall. {PROMPT.instructions[0]} Green fades first.\n\n1. Red."
    scrubbed = CHECK.scrub(text)
    assert not CHECK.leaks(scrubbed)
    assert scrubbed == "Leaves change color in fall. Green fades first.\n\n1. Red."


def test_watching_costs_the_chunk_not_the_whole_text() -> None:
    watch = LeakWatch(CHECK)
    for _ in range(2000):
        watch.feed("leaves turn red and gold ")
    assert len(watch._tail) <= 64 and len(watch._words) < 6
