"""Text generation with one loaded model: greedy or sampled, bounded by max_tokens."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aivo.engine.loader import LoadedModel


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of sequence) or "length" (max_tokens)


@torch.inference_mode()
def generate(
    loaded: LoadedModel, messages: list[dict[str, str]], max_tokens: int, temperature: float
) -> Completion:
    prompt_ids = loaded.chat_prompt_ids(messages)
    input_ids = torch.tensor([prompt_ids], device=loaded.device)
    # Below 1e-3, logits / temperature overflows to inf: such a temperature is greedy in effect.
    sampling = (
        {"do_sample": True, "temperature": temperature}
        if temperature >= 1e-3
        else {"do_sample": False}
    )
    output = loaded.model.generate(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        max_new_tokens=max_tokens,
        pad_token_id=loaded.tokenizer.pad_token_id or loaded.tokenizer.eos_token_id,
        **sampling,
    )
    new_ids = output[0, len(prompt_ids) :].tolist()
    stopped = bool(new_ids) and new_ids[-1] in loaded.eos_token_ids
    text = str(loaded.tokenizer.decode(new_ids, skip_special_tokens=True))
    return Completion(text, len(prompt_ids), len(new_ids), "stop" if stopped else "length")


@dataclass(frozen=True)
class Generation:
    """What the inference replica answers: the completion and what produced it."""

    completion: Completion
    model: str
    fallback_used: bool  # a model after the first in the chain wrote it
    adapter_version: int | None  # the student's adapter version that served; None: base model
    adapter_note: str | None = None  # why the student's adapter was not used, when it was not
