"""A request's sampling settings (plain data: the ingress checks them without torch; the tokens
are drawn in `aivo/engine/draws.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aivo.errors import InvalidRequest

if TYPE_CHECKING:
    from aivo.config import EngineConfig
    from aivo.schemas import GenerateRequest

# Below this, logits / temperature overflows to inf: such a temperature is greedy in effect.
MIN_SAMPLING_TEMPERATURE = 1e-3
MAX_STOPS = 4
MAX_STOP_CHARS = 64


@dataclass(frozen=True)
class SamplingParams:
    """How one row picks its tokens and when it ends; every control acts on that row alone.

    frequency_penalty and presence_penalty follow OpenAI (logit -= f * count + p * (count > 0),
    over the row's generated tokens); repetition_penalty follows CTRL/HF (a positive logit is
    divided by it, a negative one multiplied) over the generated tokens only: the prompt holds
    the question, whose numbers and terms a good answer repeats ("7 x 8 = 56"). A token that
    would complete an n-gram the row already generated is banned when no_repeat_ngram_size > 0.
    plain_words and sentence_words steer the row toward plainer text while what it has written
    reads above reading_target, a Flesch-Kincaid grade (None: always; `aivo/engine/steering.py`).
    """

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    plain_words: float = 0.0
    sentence_words: int = 0
    reading_target: float | None = None

    def __post_init__(self) -> None:
        problems = [
            what
            for what, bad in (
                ("max_tokens >= 1", self.max_tokens < 1),
                ("temperature >= 0", self.temperature < 0),
                ("0 < top_p <= 1", not 0 < self.top_p <= 1),
                (f"at most {MAX_STOPS} stop strings", len(self.stop) > MAX_STOPS),
                (
                    f"stop strings of 1-{MAX_STOP_CHARS} characters",
                    any(not 0 < len(s) <= MAX_STOP_CHARS for s in self.stop),
                ),
                ("-2 <= frequency_penalty <= 2", not -2 <= self.frequency_penalty <= 2),
                ("-2 <= presence_penalty <= 2", not -2 <= self.presence_penalty <= 2),
                ("repetition_penalty >= 1", self.repetition_penalty < 1),
                ("no_repeat_ngram_size >= 0", self.no_repeat_ngram_size < 0),
                ("plain_words >= 0", self.plain_words < 0),
                ("sentence_words >= 0", self.sentence_words < 0),
            )
            if bad
        ]
        if problems:
            raise InvalidRequest("sampling needs " + ", ".join(problems))

    @property
    def samples(self) -> bool:
        return self.temperature >= MIN_SAMPLING_TEMPERATURE

    @property
    def steers(self) -> bool:
        return self.plain_words > 0 or self.sentence_words > 0


def request_params(request: GenerateRequest, engine: EngineConfig) -> SamplingParams:
    """A /v1/generate request's sampling, with the server's repetition defaults."""
    return SamplingParams(
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        seed=request.seed,
        stop=tuple(request.stop),
        frequency_penalty=request.frequency_penalty,
        presence_penalty=request.presence_penalty,
        repetition_penalty=engine.repetition_penalty,
        no_repeat_ngram_size=engine.no_repeat_ngram_size,
    )
