"""Examples as token ids under the model's chat template, with loss on the answers only.

An assistant turn's tokens are those the full conversation up to and including it adds after
the conversation before it plus the generation prompt: everything else (system message,
questions, the template's role markers) gets label -100, which the loss ignores.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from aivo.training.dataset import Example, Messages
from aivo.training.errors import DatasetError

IGNORE = -100  # the label torch's cross-entropy skips


@dataclass(frozen=True)
class EncodedExample:
    input_ids: list[int]
    labels: list[int]

    @property
    def answer_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def encode_example(tokenizer: Any, example: Example, max_length: int) -> EncodedExample:
    """Token ids and labels of one example, cut to `max_length` tokens."""
    full = _ids(tokenizer, example.messages, generation_prompt=False)
    labels = [IGNORE] * len(full)
    for turn, message in enumerate(example.messages):
        if message["role"] != "assistant":
            continue
        start = len(_ids(tokenizer, example.messages[:turn], generation_prompt=True))
        upto = _ids(tokenizer, example.messages[: turn + 1], generation_prompt=False)
        if full[: len(upto)] != upto or len(upto) <= start:
            raise DatasetError("the chat template does not extend earlier turns", example.line)
        labels[start : len(upto)] = full[start : len(upto)]
    encoded = EncodedExample(full[:max_length], labels[:max_length])
    if encoded.answer_tokens == 0:
        raise DatasetError(
            f"no answer token fits in max_seq_length={max_length}; shorten the prompt",
            example.line,
        )
    return encoded


def encode_examples(
    tokenizer: Any, examples: Sequence[Example], max_length: int
) -> list[EncodedExample]:
    return [encode_example(tokenizer, example, max_length) for example in examples]


def split_held_out(
    examples: Sequence[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """(train, held out): a seeded shuffle, at least one example on each side."""
    if len(examples) < 2:
        raise DatasetError("at least 2 examples are needed: one to train on, one to evaluate")
    order = list(examples)
    random.Random(seed).shuffle(order)
    held = min(max(1, round(len(order) * fraction)), len(order) - 1)
    return order[held:], order[:held]


def collate(batch: Sequence[EncodedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors for a forward pass; padding is masked out of attention and loss."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _ids(tokenizer: Any, messages: Messages, *, generation_prompt: bool) -> list[int]:
    encoded = tokenizer.apply_chat_template(
        messages, add_generation_prompt=generation_prompt, tokenize=True, return_dict=True
    )
    return list(encoded["input_ids"])
