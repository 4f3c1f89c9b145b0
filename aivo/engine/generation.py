"""What a generation answers: the completion of one request, and what produced it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of sequence, a stop string, a loop), "length", "cancelled"
    loop_stopped: bool = False  # the answer began repeating itself: ended and trimmed


@dataclass(frozen=True)
class Generation:
    """What the inference replica answers: the completion and what produced it."""

    completion: Completion
    model: str
    fallback_used: bool  # a model after the first in the chain wrote it
    adapter_version: int | None  # the student's adapter version that served; None: base model
    adapter_note: str | None = None  # why the student's adapter was not used, when it was not


@dataclass(frozen=True)
class GenerationStart:
    """What a stream says before its first chunk: enough to account for it if the caller stops
    reading early (the answering loop stops a generation whose text fails a check)."""

    model: str
    fallback_used: bool
    adapter_version: int | None
    adapter_note: str | None
    prompt_tokens: int

    def stopped(self, text: str, chunks: int) -> Generation:
        """The Generation of a stream its caller stopped after `chunks` chunks (about a token
        each: the exact count stays with the replica)."""
        completion = Completion(text, self.prompt_tokens, chunks, "cancelled")
        return Generation(
            completion, self.model, self.fallback_used, self.adapter_version, self.adapter_note
        )
