"""A student's training dataset: JSONL chat examples or prompt/response pairs, and a profile.

Each non-blank line is one JSON object, one of:
  {"messages": [{"role": "user", "content": ...}, {"role": "assistant", "content": ...}]}
  {"prompt": ..., "response": ...}
  {"profile": {"grade": "4", "interests": [...], "accommodations": ["dyslexia"]}}
The profile line (at most one) applies to every example; an example may carry its own
`profile` field instead. Examples without a system message get one built from the profile, in
the spirit of the serving prompt, and questions are cleaned as the serving prompt cleans them.
Personal data is redacted from every turn (`aivo.safety.pii`), so no clone learns it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aivo.curriculum.prompting import ACCOMMODATION_RULES, neutralise, persona
from aivo.errors import validation_problems
from aivo.safety.pii import redact_pii
from aivo.schemas import GRADES, Accommodation
from aivo.training.errors import DatasetError

Messages = list[dict[str, str]]


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudentProfile(_Line):
    grade: str | None = Field(None, description='"K" or "1".."12".')
    interests: list[str] = Field(default_factory=list, max_length=10)
    accommodations: list[Accommodation] = Field(default_factory=list, max_length=4)

    @field_validator("grade", mode="before")
    @classmethod
    def _grade(cls, value: object) -> object:
        value = str(value).strip().upper() if isinstance(value, str | int) else value
        if value is not None and value not in GRADES:
            raise ValueError('grade must be "K" or "1".."12"')
        return value

    @field_validator("interests")
    @classmethod
    def _interests(cls, value: list[str]) -> list[str]:
        if any(not 0 < len(v.strip()) <= 60 for v in value):
            raise ValueError("each interest is 1-60 characters")
        return [v.strip() for v in value]

    @field_validator("accommodations", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        if isinstance(value, list):
            return [v.strip().lower() if isinstance(v, str) else v for v in value]
        return value


class ChatMessage(_Line):
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)


class ChatExample(_Line):
    messages: list[ChatMessage] = Field(min_length=2)
    profile: StudentProfile | None = None

    @model_validator(mode="after")
    def _shape(self) -> ChatExample:
        roles = [m.role for m in self.messages]
        if roles[-1] != "assistant" or "user" not in roles:
            raise ValueError("messages need a user turn and must end with an assistant turn")
        if "system" in roles[1:]:
            raise ValueError("a system message may only come first")
        return self


class PairExample(_Line):
    prompt: str = Field(min_length=1)
    response: str = Field(min_length=1)
    profile: StudentProfile | None = None


class ProfileLine(_Line):
    profile: StudentProfile


@dataclass(frozen=True)
class Example:
    line: int  # 1-based line in the dataset file, for error messages
    messages: Messages


@dataclass(frozen=True)
class Dataset:
    examples: list[Example]
    sha256: str
    profile: StudentProfile | None


def parse_dataset(data: bytes) -> Dataset:
    """Every example of a JSONL dataset; the first bad line raises DatasetError naming it."""
    profile: StudentProfile | None = None
    parsed: list[tuple[int, ChatExample | PairExample]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        item = _parse_line(raw, number)
        if isinstance(item, ProfileLine):
            if profile is not None:
                raise DatasetError("a second profile line; a dataset has at most one", number)
            profile = item.profile
        else:
            parsed.append((number, item))
    if not parsed:
        raise DatasetError("the dataset holds no examples")
    examples = [Example(n, _messages(item, item.profile or profile)) for n, item in parsed]
    return Dataset(examples, hashlib.sha256(data).hexdigest(), profile)


def system_message(profile: StudentProfile | None) -> str:
    """A short system message naming the student's grade, interests and accommodations."""
    lines = [persona(profile.grade if profile else None)]
    if profile is not None:
        if profile.interests:
            lines.append(f"The student enjoys {', '.join(profile.interests)}.")
        lines += [ACCOMMODATION_RULES[a] for a in sorted(set(profile.accommodations))]
    return "\n".join(lines)


def _parse_line(raw: bytes, number: int) -> ChatExample | PairExample | ProfileLine:
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise DatasetError("not UTF-8 text", number) from None
    except ValueError:
        raise DatasetError("not valid JSON", number) from None
    if not isinstance(value, dict):
        raise DatasetError("not a JSON object", number)
    if "messages" in value:
        kind: type[ChatExample | PairExample | ProfileLine] = ChatExample
    elif "prompt" in value or "response" in value:
        kind = PairExample
    elif set(value) == {"profile"}:
        kind = ProfileLine
    else:
        raise DatasetError("expected `messages`, `prompt` and `response`, or `profile`", number)
    try:
        return kind.model_validate(value)
    except ValidationError as error:
        # loc and msg only: pydantic's full text would echo the student's input
        raise DatasetError(validation_problems(error.errors(), empty="<line>"), number) from None


def _messages(item: ChatExample | PairExample, profile: StudentProfile | None) -> Messages:
    if isinstance(item, PairExample):
        turns = [("user", item.prompt), ("assistant", item.response)]
    else:
        turns = [(m.role, m.content) for m in item.messages]
    # a clone must never learn a child's personal data, whoever's turn it is in
    messages = [
        {"role": role, "content": _cleaned(role, redact_pii(text).text)} for role, text in turns
    ]
    if messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_message(profile)})
    return messages


def _cleaned(role: str, text: str) -> str:
    return neutralise(text) if role == "user" else text
