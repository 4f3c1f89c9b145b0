"""The model's chat messages, laid out so that what many requests share comes first.

1. A system message of tutor instructions, the same for every request with the same grade band,
   subject, learning style, accommodations and tutoring mode (shared, so a prefix cache reuses it).
2. The earlier turns of the conversation, as user and assistant messages.
3. A system message of material for this question only: aligned standards, the checked solution
   or the hint's next step, and the request's canary (a code a learner never sees, so an answer
   that contains it read its prompt back).
4. The learner's question as the user's message.

Small models read instructions back when they are long or talk about themselves, so they are
short, about the answer only, and name no tags or secrets. The learner's text cannot forge a chat
turn: chat-template control tokens are removed from it. Every instruction line is also handed to
the leak check (`aivo/safety/leaks.py`), which removes what an answer reads back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from aivo.curriculum.readability import grade_band
from aivo.safety.screening import neutralise
from aivo.schemas import (
    Accommodation,
    GenerateRequest,
    LearningStyle,
    StandardMatch,
    Subject,
    TutoringMode,
    grade_number,
)

PROMPT_STANDARDS = 2  # standards named in the prompt; the response lists all of them
STANDARD_CHARS = 70  # a standard's description is cut to this many characters in the prompt

SUBJECT_METHODS = {
    Subject.math: "Solve in worked steps, one operation per step, then state the answer.",
    Subject.science: "Start from an everyday phenomenon, then explain the science behind it.",
    Subject.ela: "Point to evidence from the text and explain how it supports the answer.",
    Subject.social_studies: "Use sources and historical context: who, when, where and why.",
}
# Formats to offer, not a claim that matching a style improves learning (the evidence says no).
STYLE_HINTS = {
    LearningStyle.visual: "Where it helps, describe a picture, diagram or table to draw.",
    LearningStyle.auditory: "Where it helps, give a rhythm or phrase to say out loud.",
    LearningStyle.reading_writing: "Where it helps, give clear definitions and short notes.",
    LearningStyle.kinesthetic: "Where it helps, suggest an activity with real objects.",
}
ACCOMMODATION_RULES = {
    Accommodation.adhd: "Write short numbered chunks, one idea each.",
    Accommodation.autism: "Use literal language, no idioms or sarcasm, and a clear structure.",
    Accommodation.dyslexia: "Use short sentences, common words and bullet lists.",
    Accommodation.anxiety: "Be calm and encouraging, with no time pressure; praise effort.",
}
MODE_RULES = {
    TutoringMode.explain: "",
    TutoringMode.hint: "Give one hint for the next step only. Do not give the final answer.",
    TutoringMode.check: "Say if the student's answer is right. If it is wrong, say what to look "
    "at again, without giving the answer.",
}

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Prompt:
    messages: Messages
    instructions: tuple[str, ...]  # lines an answer must never read back
    canary: str


def build_prompt(
    request: GenerateRequest,
    question: str,
    standards: list[StandardMatch],
    history: list[tuple[str, str]] | None = None,
    material: list[str] | None = None,
) -> Prompt:
    """`question` and `history` ((role, text) with role user/assistant) are already screened
    and redacted; `material` is what the answer should use (a checked solution, a next step)."""
    instructions = tutor_instructions(request)
    canary = request_canary(request)
    notes = [*(material or []), *standards_lines(standards), f"Reference {canary}."]
    messages: Messages = [{"role": "system", "content": "\n".join(instructions)}]
    messages += [{"role": role, "content": neutralise(text)} for role, text in history or []]
    messages.append({"role": "system", "content": "\n".join(notes)})
    messages.append({"role": "user", "content": neutralise(question)})
    return Prompt(messages, tuple(instructions), canary)


def persona(grade: str | None, subject: Subject | None = None) -> str:
    """Who the tutor is to whom: the first instruction, in serving and in a clone's training."""
    if grade is None:
        return "You are AIVO, a patient tutor."
    learner = "kindergarten" if grade == "K" else f"grade {grade}"
    studied = f" in {subject.value.replace('_', ' ')}" if subject is not None else ""
    return f"You are AIVO, a patient tutor for a {learner} student{studied}."


def tutor_instructions(request: GenerateRequest) -> list[str]:
    band = grade_band(grade_number(request.grade_level))
    lines = [
        persona(request.grade_level, request.subject),
        f"Use {band.vocabulary}, in sentences under {band.max_sentence_words} words.",
        SUBJECT_METHODS[request.subject],
        MODE_RULES[request.mode],
    ]
    if request.learning_style is not None:
        lines.append(STYLE_HINTS[request.learning_style])
    lines += [ACCOMMODATION_RULES[a] for a in request.accommodations]
    return [line for line in lines if line]


def standards_lines(standards: list[StandardMatch]) -> list[str]:
    if not standards:
        return []
    shown = standards[:PROMPT_STANDARDS]
    return ["Standards: " + "; ".join(f"{s.code} ({_clip(s.description)})" for s in shown) + "."]


def request_canary(request: GenerateRequest) -> str:
    """A code per request, the same for the same request (so greedy answers stay repeatable)."""
    digest = hashlib.sha256(request.model_dump_json(exclude={"stream"}).encode()).hexdigest()
    return f"T{digest[:7].upper()}"


def _clip(description: str) -> str:
    description = description.rstrip(".")
    if len(description) <= STANDARD_CHARS:
        return description
    return description[:STANDARD_CHARS].rsplit(" ", 1)[0] + "…"
