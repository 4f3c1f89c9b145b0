"""The model's chat messages, laid out so that what many requests share comes first.

1. A system message of tutor instructions, the same for every request with the same grade band,
   subject, learning style, accommodations and tutoring mode (shared, so a prefix cache reuses it).
2. The earlier turns of the conversation, as user and assistant messages.
3. A system message of notes, from the most shared to the least: the best aligned standard when
   the alignment is confident (the same for every question on its topic), the checked solution
   or the hint's next step (this problem's), and the request's canary (a code a learner never
   sees, so an answer that contains it read its prompt back).
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

# The prompt names only a confident best match (the response lists every match): on the labelled
# alignment set (bench/data/alignment_labelled.jsonl) the best match is right in 86 % of rows, and
# in 95 % of dev rows (96 % of holdout) that score at least PROMPT_MIN_SCORE, while the second best
# is right in 18 of 143. A wrong standard grounds the answer in the wrong topic, and every named
# one costs the request ~20 prompt tokens of its own.
PROMPT_STANDARDS = 1
PROMPT_MIN_SCORE = 0.5
STANDARDS_LABEL = "Standards:"  # opens the notes' standards line; no answer line may open so
FACTS_LABEL = "Key facts:"  # opens the notes' line of a vetted explanation (`key_ideas.py`)
HINT_LABEL = "Hint to give:"  # opens the notes' line of a key idea's hint
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

# The plainer prompt shows one answer written at the band's level: a small model copies the
# style of an example far more than it follows a rule about style. Per band: question, answer.
PLAIN_EXAMPLES = {
    "K-2": (
        "Why do birds have feathers?",
        "Feathers keep birds warm. They help birds fly. A bird can fluff them up when it is "
        "cold. Some feathers have bright colors. The colors help birds find each other.",
    ),
    "3-5": (
        "Why do we have seasons?",
        "The Earth is tilted. As it goes around the Sun, one half leans toward the Sun. That "
        "half gets more sunlight, so it is summer there. The other half leans away. It gets "
        "less light, so it is winter there.",
    ),
    "6-8": (
        "What causes earthquakes?",
        "The outer layer of the Earth is broken into huge pieces called tectonic plates. The "
        "plates move very slowly, a few centimeters each year. Sometimes their edges get stuck "
        "against each other. Pressure builds up until the rock suddenly slips. That sudden "
        "movement sends vibrations through the ground, and we feel an earthquake.",
    ),
    "9-12": (
        "Why does inflation happen?",
        "Inflation is a general rise in prices across an economy over time. It often happens "
        "when total demand for goods and services grows faster than the economy can produce "
        "them. Rising production costs, such as wages or energy, can also push prices up. "
        "Central banks try to slow inflation by raising interest rates, which makes borrowing "
        "more expensive.",
    ),
}

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Prompt:
    messages: Messages
    instructions: tuple[str, ...]  # lines an answer must never read back
    canary: str
    grade: int | None = None  # the learner's grade (K is 0): the reading band answers aim at
    plainer: Messages | None = None  # the same messages with a stricter reading instruction
    # the notes' labels: an answer line that opens with one reads the notes back
    labels: tuple[str, ...] = (STANDARDS_LABEL, FACTS_LABEL)


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
    stricter = tutor_instructions(request, plainer=True)
    grade = grade_number(request.grade_level)
    example_question, example = PLAIN_EXAMPLES[grade_band(grade).name]
    canary = request_canary(request)
    notes = [*standards_lines(standards), *(material or []), f"Reference {canary}."]
    turns: Messages = [{"role": role, "content": neutralise(text)} for role, text in history or []]
    turns.append({"role": "system", "content": "\n".join(notes)})
    turns.append({"role": "user", "content": neutralise(question)})
    shown: Messages = [
        {"role": "user", "content": example_question},
        {"role": "assistant", "content": example},
    ]
    return Prompt(
        [{"role": "system", "content": "\n".join(instructions)}, *turns],
        tuple(dict.fromkeys([*instructions, *stricter, example])),  # an answer may copy none
        canary,
        grade=grade,
        plainer=[{"role": "system", "content": "\n".join(stricter)}, *shown, *turns],
    )


def persona(grade: str | None, subject: Subject | None = None) -> str:
    """Who the tutor is to whom: the first instruction, in serving and in a clone's training."""
    if grade is None:
        return "You are AIVO, a patient tutor."
    learner = "kindergarten" if grade == "K" else f"grade {grade}"
    studied = f" in {subject.value.replace('_', ' ')}" if subject is not None else ""
    return f"You are AIVO, a patient tutor for a {learner} student{studied}."


def tutor_instructions(request: GenerateRequest, *, plainer: bool = False) -> list[str]:
    """The tutor's instructions; `plainer`, with a stricter reading instruction (for answering
    again when the first answer read far above the learner's band)."""
    grade = grade_number(request.grade_level)
    lines = [
        persona(request.grade_level, request.subject),
        reading_instruction(grade, plainer=plainer),
        SUBJECT_METHODS[request.subject],
        MODE_RULES[request.mode],
    ]
    if request.learning_style is not None:
        lines.append(STYLE_HINTS[request.learning_style])
    lines += [ACCOMMODATION_RULES[a] for a in request.accommodations]
    return [line for line in lines if line]


def reading_instruction(grade: int, *, plainer: bool = False) -> str:
    """What the answer should read like, in terms a small model follows: a reader's age, a
    sentence length, the kind of words."""
    band = grade_band(grade)
    age = grade + 6  # a learner's age in grade K (0) is about 5-6
    reader = f"{'an' if age in (8, 11, 18) else 'a'} {age}-year-old"
    if plainer:
        words = max(6, band.max_sentence_words - 4)
        return (
            f"Write for {reader} child. Use very short sentences, under {words} words "
            "each, and short, common words. Say each idea in its own sentence."
        )
    return (
        f"Write so {reader} can read it alone: {band.vocabulary}, "
        f"in sentences under {band.max_sentence_words} words."
    )


def standards_lines(standards: list[StandardMatch]) -> list[str]:
    shown = [s for s in standards[:PROMPT_STANDARDS] if s.score >= PROMPT_MIN_SCORE]
    if not shown:
        return []
    named = "; ".join(f"{s.code} ({_clip(s.description)})" for s in shown)
    return [f"{STANDARDS_LABEL} {named}."]


def request_canary(request: GenerateRequest) -> str:
    """A code per request, the same for the same request (so greedy answers stay repeatable)."""
    digest = hashlib.sha256(request.model_dump_json(exclude={"stream"}).encode()).hexdigest()
    return f"T{digest[:7].upper()}"


def _clip(description: str) -> str:
    description = description.rstrip(".")
    if len(description) <= STANDARD_CHARS:
        return description
    return description[:STANDARD_CHARS].rsplit(" ", 1)[0] + "…"
