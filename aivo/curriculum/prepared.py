"""What the preprocessor hands the ingress: a prepared prompt and a finished answer. Plain data,
importable without the preprocessor's models (the ingress never loads torch for it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aivo.curriculum.prompting import Messages, Prompt
from aivo.schemas import ReadingLevel, StandardMatch

if TYPE_CHECKING:
    from aivo.curriculum.key_ideas import Grounding
    from aivo.tutoring.moves import TutorPlan

PROMPT_VERSION = "8"


@dataclass(frozen=True)
class PreparedPrompt:
    prompt: Prompt
    standards: list[StandardMatch] = field(default_factory=list)
    plan: TutorPlan | None = None  # a computable question's checked solution and tutoring move
    prompt_version: str = PROMPT_VERSION
    redacted: tuple[str, ...] = ()  # kinds of personal data removed, e.g. ("email",)
    grounding: Grounding | None = None  # a question on a key idea of the vetted library
    # A computable question the checker could not solve: the conversation's texts, whose
    # numbers (and true calculations on them) are all its answer may state.
    numbers_from: tuple[str, ...] = ()

    @property
    def messages(self) -> Messages:
        return self.prompt.messages


@dataclass(frozen=True)
class FinishedAnswer:
    text: str
    reading_level: ReadingLevel | None
    replaced_unsafe: bool = False  # the model's answer was unsuitable and was replaced
