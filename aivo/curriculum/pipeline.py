"""The curriculum preprocessor's logic: from a request to the model's messages, and back.

Interface used by `deployments/preprocessor.py`: `CurriculumPipeline(config)`, then
`prepare(request) -> PreparedPrompt` and `finish(request, text) -> FinishedAnswer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aivo.config import CurriculumConfig
from aivo.schemas import GenerateRequest, ReadingLevel, StandardMatch

PROMPT_VERSION = "1"


@dataclass(frozen=True)
class PreparedPrompt:
    messages: list[dict[str, str]]
    standards: list[StandardMatch] = field(default_factory=list)
    prompt_version: str = PROMPT_VERSION


@dataclass(frozen=True)
class FinishedAnswer:
    text: str
    reading_level: ReadingLevel | None


class CurriculumPipeline:
    def __init__(self, config: CurriculumConfig) -> None:
        self.config = config

    def prepare(self, request: GenerateRequest) -> PreparedPrompt:
        grade = "kindergarten" if request.grade_level == "K" else f"grade {request.grade_level}"
        system = (
            f"You are a patient tutor for a {grade} student studying "
            f"{request.subject.value.replace('_', ' ')}. Answer at that grade's reading level."
        )
        return PreparedPrompt(
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": request.prompt},
            ]
        )

    def finish(self, request: GenerateRequest, text: str) -> FinishedAnswer:
        return FinishedAnswer(text=text.strip(), reading_level=None)
