"""A request's row in the running batch: its settings, its tokens so far, and its stream."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from aivo.engine.answer_text import AnswerText
from aivo.engine.draws import pick_token
from aivo.engine.generation import Completion
from aivo.engine.penalties import TokenHistory, penalised
from aivo.engine.sampling import SamplingParams
from aivo.engine.steering import Steering
from aivo.engine.streaming import RequestStream
from aivo.errors import AivoError


class GenerationFailed(AivoError):
    """The model failed while serving the request (out of memory, a bad input); retry later."""

    status, code = 503, "generation_failed"


@dataclass(eq=False)
class BatchRow:
    """Only the model thread touches a row once it is submitted."""

    prompt_ids: list[int]
    params: SamplingParams
    adapter: str  # a PEFT adapter name, or BASE_ADAPTER
    generator: torch.Generator | None
    answer: AnswerText
    stream: RequestStream
    weights: str | None = None  # what computed the adapter's KV, for the prefix cache's keys
    arrived: float = field(default_factory=time.monotonic)
    finished: bool = False
    put_off: bool = False  # its prefill waited a step for shorter prompts to start
    steering: Steering | None = None  # its reading-level steering, if its params ask for it
    history: TokenHistory = field(init=False)

    def __post_init__(self) -> None:
        self.history = TokenHistory(self.params.no_repeat_ngram_size)

    @property
    def last_token(self) -> int:
        return self.history.tokens[-1]

    def pick(self, logits: torch.Tensor) -> int:
        """The next token from this row's logits [vocab], by this row's controls alone."""
        logits = penalised(logits, self.params, self.history)
        if self.steering is not None:
            logits = self.steering.apply(logits)
        return pick_token(logits, self.params, self.generator)

    def accept(self, token: int, eos_token_ids: set[int]) -> None:
        """Record the next token: stream what text may go, finish at end of sequence, a stop
        string, a loop or max_tokens."""
        self.history.add(token)
        if token in eos_token_ids:
            self.finish("stop")
            return
        self._put(self.answer.push(token))
        if self.steering is not None:
            self.steering.add(token, self.answer)
        if self.answer.ended:
            self.finish("stop")
        elif len(self.history.tokens) >= self.params.max_tokens:
            self.finish("length")

    def finish(self, reason: str) -> None:
        """End the stream with a Completion: "stop", "length" or "cancelled"."""
        self.finished = True
        self._put(self.answer.finish())
        completion = Completion(
            self.answer.text,
            len(self.prompt_ids),
            len(self.history.tokens),
            reason,
            self.answer.loop_stopped,
        )
        self.stream.put(completion)

    def _put(self, chunk: str) -> None:
        if chunk:
            self.stream.put(chunk)

    def fail(self, error: AivoError) -> None:
        if not self.finished:
            self.finished = True
            self.stream.put(error)
