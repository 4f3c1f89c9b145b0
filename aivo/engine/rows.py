"""A request's row in the running batch: its settings, its tokens so far, and its stream."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from aivo.engine.detokenize import IncrementalDecoder
from aivo.engine.generation import Completion
from aivo.engine.streaming import RequestStream
from aivo.errors import AivoError


class GenerationFailed(AivoError):
    """The model failed while serving the request (out of memory, a bad input); retry later."""

    status, code = 503, "generation_failed"


@dataclass(eq=False)
class BatchRow:
    """Only the model thread touches a row once it is submitted."""

    prompt_ids: list[int]
    max_tokens: int
    temperature: float
    adapter: str  # a PEFT adapter name, or BASE_ADAPTER
    generator: torch.Generator | None
    decoder: IncrementalDecoder
    stream: RequestStream
    arrived: float = field(default_factory=time.monotonic)
    generated: list[int] = field(default_factory=list)
    finished: bool = False

    @property
    def last_token(self) -> int:
        return self.generated[-1]

    def accept(self, token: int, eos_token_ids: set[int]) -> None:
        """Record the next token: stream its text, finish at end of sequence or max_tokens."""
        self.generated.append(token)
        if token in eos_token_ids:
            self.finish("stop")
            return
        chunk = self.decoder.push(token)
        if chunk:
            self.stream.put(chunk)
        if len(self.generated) >= self.max_tokens:
            self.finish("length")

    def finish(self, reason: str) -> None:
        """End the stream with a Completion: "stop", "length" or "cancelled"."""
        self.finished = True
        chunk = self.decoder.flush()
        if chunk:
            self.stream.put(chunk)
        completion = Completion(
            self.decoder.text, len(self.prompt_ids), len(self.generated), reason
        )
        self.stream.put(completion)

    def fail(self, error: AivoError) -> None:
        if not self.finished:
            self.finished = True
            self.stream.put(error)
