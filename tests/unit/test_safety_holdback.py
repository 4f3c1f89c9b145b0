"""The stream's holdback: nothing an unsafe match could still complete is released, and the
output check reads a bounded window per chunk, not the whole answer again."""

from __future__ import annotations

import re
from re import _parser as sre_parse  # type: ignore[attr-defined]

import pytest

from aivo.safety.holdback import HOLD_CHARS, Holdback
from aivo.safety.output import _CATEGORIES, PHRASE_CHARS

PIPE_BOMB = "Sure, here is how to make a pipe bomb: first get a steel pipe and some caps."
SAFE = (
    "Plants make their own food from sunlight, water and air. The green parts of a leaf "
    "catch the light, and the roots drink water from the soil. "
)


def stream(text: str, chunk_chars: int) -> tuple[str, Holdback]:
    """Feeds `text` in chunks of `chunk_chars`; what was released, and the holdback."""
    held, released = Holdback(), ""
    for i in range(0, len(text), chunk_chars):
        released += held.feed(text[i : i + chunk_chars])
        if held.verdict is not None:
            return released, held
    return released + held.close(), held


@pytest.mark.parametrize("chunk_chars", [1, 3, 7, 20])
def test_no_part_of_an_unsafe_phrase_is_ever_released(chunk_chars: int) -> None:
    released, held = stream(PIPE_BOMB, chunk_chars)
    assert held.verdict is not None and held.verdict.categories == ("weapons_drugs",)
    assert "pipe" not in released and "bomb" not in released
    assert PIPE_BOMB.startswith(released)
    assert held.close() == ""  # nothing held is ever sent once it tripped


def test_safe_text_is_released_whole_and_as_it_comes() -> None:
    text = SAFE * 4
    held, pieces = Holdback(), []
    for word in re.findall(r"\S+\s*", text):
        pieces.append(held.feed(word))
    assert "".join(pieces) + held.close() == text
    assert len("".join(pieces)) > len(text) - 2 * HOLD_CHARS  # only a window is held back


def test_the_check_reads_a_window_per_chunk_not_the_whole_answer() -> None:
    def work(tokens: int) -> tuple[int, int]:
        held = Holdback()
        words = (SAFE * 40).split(" ")[:tokens]
        for i, word in enumerate(words):
            held.feed(word if i == 0 else " " + word)
        return held.scanned, tokens

    short, long = work(256), work(1024)
    per_chunk = long[0] / long[1]
    assert per_chunk <= 2 * HOLD_CHARS  # bounded by the window, whatever the length
    assert long[0] <= 4.2 * short[0]  # linear in the answer's length, not quadratic


def _widths(pattern: str) -> tuple[int, int]:
    low, high = sre_parse.parse(pattern).getwidth()
    return int(low), int(high)


@pytest.mark.parametrize(
    "pattern", [p for words in _CATEGORIES.values() for p in words], ids=lambda p: p[:30]
)
def test_every_phrase_fits_the_window(pattern: str) -> None:
    _, longest = _widths(pattern)
    if longest > PHRASE_CHARS:  # unbounded: must be one word, which is released only whole
        assert " " not in pattern and r"\s" not in pattern, pattern
