"""Conversation memory: the earlier turns of a chat, cut from the oldest to fit the model.

The bundled model reads 8192 tokens. Its worst case besides the history: 1024 completion
tokens, a 4000-character question (about 1000 tokens) and about 500 tokens of instructions,
standards and worked solution; that leaves about 5600 tokens, which at a cautious 3 characters a
token is `HISTORY_CHARS`. The app's context turn and the newest question are always kept.
"""

from __future__ import annotations

from typing import Literal

from aivo.schemas import MAX_HISTORY_TURNS, MAX_TURN_CHARS, Turn

HISTORY_CHARS = 16_000
# How the app's system messages read in the history. Of the labels tried, the one that least
# made typical system messages look like attacks to screening (0 of 12; 4 of 4 attacks caught).
APP_CONTEXT = "Note from the learning app: "


Role = Literal["student", "tutor"]


def fit_history(context: str | None, turns: list[tuple[Role, str]]) -> tuple[list[Turn], bool]:
    """The context turn (if any) and the newest turns that fit: `MAX_HISTORY_TURNS` turns of at
    most `MAX_TURN_CHARS` each, `HISTORY_CHARS` in all; oldest first. And whether any was cut."""
    clipped = [(role, text[:MAX_TURN_CHARS]) for role, text in turns]
    # the start of a long turn is kept: a learner states the problem before asking about it
    cut = any(len(text) > MAX_TURN_CHARS for _, text in turns)
    kept: list[tuple[Role, str]] = []
    if context is not None:
        kept.append(("student", (APP_CONTEXT + context)[:MAX_TURN_CHARS]))
        cut |= len(APP_CONTEXT + context) > MAX_TURN_CHARS
    room = HISTORY_CHARS - sum(len(text) for _, text in kept)
    newest: list[tuple[Role, str]] = []
    for role, text in reversed(clipped):
        if len(kept) + len(newest) == MAX_HISTORY_TURNS or len(text) > room:
            break
        newest.append((role, text))
        room -= len(text)
    cut |= len(newest) < len(clipped)
    return [Turn(role=role, text=text) for role, text in kept + newest[::-1]], cut
