"""HTTP request and response models (contract v1, see the README's API section)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

Grade = Literal["K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]
GRADES: tuple[str, ...] = get_args(Grade)
# The contract's limits; a deployment may set lower ones (SecurityConfig).
MAX_PROMPT_CHARS = 4000
MAX_TOKENS = 1024
STUDENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


def _json_number(value: object) -> object:
    """A JSON number, as JSON Schema has it: no string or boolean stands in for one."""
    if isinstance(value, str | bool):
        raise ValueError("Input should be a number")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_number)]  # 3 and 3.0, never "3" or true
JsonFloat = Annotated[float, BeforeValidator(_json_number)]


def _one_or_more(schema: dict[str, Any]) -> None:
    """`stop`'s schema: one string, or a list of them (the validator wraps one in a list)."""
    one = schema.pop("items")
    many = {"type": "array", "items": one, "maxItems": schema.pop("maxItems")}
    del schema["type"]
    schema["anyOf"] = [one, many]


class Subject(StrEnum):
    math = "math"
    ela = "ela"
    science = "science"
    social_studies = "social_studies"


class LearningStyle(StrEnum):
    visual = "visual"
    auditory = "auditory"
    reading_writing = "reading_writing"
    kinesthetic = "kinesthetic"


class Accommodation(StrEnum):
    adhd = "adhd"
    autism = "autism"
    dyslexia = "dyslexia"
    anxiety = "anxiety"


class TutoringMode(StrEnum):
    explain = "explain"  # explain and answer (the default)
    hint = "hint"  # guide toward the next step; never state the final answer
    check = "check"  # judge `student_answer`; if wrong, say what to look at, not the answer


MAX_HISTORY_TURNS = 12
MAX_TURN_CHARS = 2000


class Turn(BaseModel):
    """An earlier turn of this conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["student", "tutor"]
    text: str = Field(min_length=1, max_length=MAX_TURN_CHARS)


def grade_number(grade: str) -> int:
    """K is 0."""
    return 0 if grade == "K" else int(grade)


class GenerateRequest(BaseModel):
    # Numbers and flags are strict, and the schema states the checks below (a visible
    # character, `check` needs `student_answer`): what the OpenAPI document calls valid is.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "if": {"properties": {"mode": {"const": "check"}}, "required": ["mode"]},
            "then": {  # and not null: the answer to check
                "required": ["student_answer"],
                "properties": {"student_answer": {"type": "string"}},
            },
        },
    )

    prompt: str = Field(
        min_length=1,
        max_length=MAX_PROMPT_CHARS,
        description="The learner's question.",
        json_schema_extra={"pattern": r"\S"},
    )
    grade_level: Grade = Field(description='"K" or "1".."12".')
    subject: Subject = Field(description="Case-insensitive.")
    learning_style: LearningStyle | None = None
    accommodations: list[Accommodation] = Field(default_factory=list, max_length=4)
    student_id: str | None = Field(
        None, pattern=STUDENT_ID_PATTERN, description="Selects that student's adapter."
    )
    max_tokens: JsonInt = Field(256, ge=1, le=MAX_TOKENS)
    temperature: JsonFloat = Field(0.0, ge=0.0, le=2.0)
    top_p: JsonFloat = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    stop: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=4,
        json_schema_extra=_one_or_more,
        description="A string or up to 4: the answer ends before the first one it writes.",
    )
    # below 2**53: every JSON client (and schema validator) reads the number exactly
    seed: Annotated[int, Field(ge=0, lt=2**53), BeforeValidator(_json_number)] | None = Field(
        None, description="Makes a sampled answer reproducible."
    )
    frequency_penalty: JsonFloat = Field(
        0.0, ge=-2.0, le=2.0, description="Lowers a token's logit by this per earlier use."
    )
    presence_penalty: JsonFloat = Field(
        0.0, ge=-2.0, le=2.0, description="Lowers the logit of every token already used."
    )
    stream: StrictBool = False
    mode: TutoringMode = Field(
        TutoringMode.explain,
        description="`explain` (default), `hint` (never states the final answer) or `check` "
        "(judges `student_answer`).",
    )
    student_answer: str | None = Field(
        None, min_length=1, max_length=200, description="The learner's answer, for `check`."
    )
    history: list[Turn] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_TURNS,
        description="Earlier turns of this conversation, oldest first.",
    )

    @field_validator("grade_level", mode="before")
    @classmethod
    def _grade(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("subject", "learning_style", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("accommodations", mode="before")
    @classmethod
    def _accommodations(cls, value: object) -> object:
        if isinstance(value, list):
            return [v.strip().lower() if isinstance(v, str) else v for v in value]
        return value

    @field_validator("accommodations")
    @classmethod
    def _unique(cls, value: list[Accommodation]) -> list[Accommodation]:
        return sorted(set(value))

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt is blank")
        return value

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _answer_for_check(self) -> GenerateRequest:
        if self.mode == TutoringMode.check and self.student_answer is None:
            raise ValueError("mode check needs student_answer")
        return self


class StandardMatch(BaseModel):
    code: str
    description: str
    score: float


class ReadingLevel(BaseModel):
    flesch_kincaid_grade: float = Field(description="Flesch-Kincaid grade of the answer's prose.")
    target_band: tuple[float, float]
    within_band: bool | None = Field(
        description="null when the answer has too little prose to measure (see prose_words)."
    )
    prose_words: int = Field(0, description="Words of prose measured (math lines left out).")


class Verification(BaseModel):
    """What the math checker found; null in a response when the question is not computable."""

    problem: str = Field(description="The problem as the checker read it.")
    answer: str = Field(description="The exact answer, computed by a computer algebra system.")
    answer_in_text: bool = Field(description="Whether the tutor's text states the answer.")
    corrected: bool = Field(description="Whether the model's own answer was wrong or missing.")
    student_answer_correct: bool | None = Field(
        None, description="In `check` mode, whether the learner's answer is right."
    )


class AdapterRef(BaseModel):
    student_id: str
    version: int


FinishReason = Literal["stop", "length", "content_filter"]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class GenerateResponse(BaseModel):
    id: str
    text: str
    model: str
    adapter: AdapterRef | None = None
    adapter_note: str | None = Field(
        None, description="Why the student's adapter did not serve (the base model did)."
    )
    cached: bool = False
    fallback_used: bool = False
    standards: list[StandardMatch] = Field(default_factory=list)
    reading_level: ReadingLevel | None = None
    verification: Verification | None = None
    key_idea: str | None = Field(
        None,
        description="The vetted key idea (its library id) the question is on: the answer is its "
        "explanation or hint (`model` is then `aivo-key-ideas`), or in `check` mode the "
        "explanation the learner's answer was judged by.",
    )
    usage: Usage
    finish_reason: FinishReason = Field(
        "stop",
        description="`length` when the answer ran into max_tokens, `content_filter` when the "
        "model's answer was unsafe and was replaced, else `stop`.",
    )
    latency_ms: float


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class InvalidateRequest(BaseModel):
    """Exactly one of `student_id` or `all: true` (the schema says so: one property)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"minProperties": 1, "maxProperties": 1}
    )

    student_id: Annotated[str, Field(pattern=STUDENT_ID_PATTERN)] | SkipJsonSchema[None] = Field(
        None, description="Drop this student's cached answers."
    )
    all: Literal[True] | SkipJsonSchema[None] = Field(
        None, description="Drop every cached answer of this key's tenant."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_property(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) != 1:
            raise ValueError("give exactly one of student_id or all: true")
        return data

    @model_validator(mode="after")
    def _one_target(self) -> InvalidateRequest:
        if (self.student_id is None) == (self.all is None):
            raise ValueError("give exactly one of student_id or all: true")
        return self


class InvalidateResponse(BaseModel):
    removed: int


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1, description="An earlier published version to make live again.")


class StudentSummary(BaseModel):
    student_id: str
    live_version: int
    versions: list[int]


class StudentPage(BaseModel):
    students: list[StudentSummary]
    next_after: str | None = Field(
        None, description="Pass as `after` for the next page; null on the last page."
    )


class StudentDeletion(BaseModel):
    student_id: str
    removed: dict[str, int] = Field(description="What was removed, by kind, with counts.")


class CloneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    examples: list[dict[str, Any]] = Field(
        min_length=1,
        description='Dataset lines: {"prompt", "response"}, {"messages": [...]} or one '
        '{"profile": {grade, interests, accommodations}}.',
    )


class CloneJob(BaseModel):
    job_id: str
    student_id: str
    status: str


class JobReport(BaseModel):
    job_id: str
    status: str
    results: list[dict[str, Any]] | None = None


class AdapterInfo(BaseModel):
    student_id: str
    live_version: int
    versions: list[int]
    metadata: dict[str, Any]
