"""Held-out evaluation: mean cross-entropy per answer token, and its perplexity."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from aivo.training.tokenization import IGNORE, EncodedExample, collate


@dataclass(frozen=True)
class HeldOutMetrics:
    loss: float  # nats per answer token
    perplexity: float
    tokens: int


def forward_context(
    device: torch.device, compute_dtype: str
) -> contextlib.AbstractContextManager[Any]:
    """Autocast for a bf16 forward pass over fp32 weights; nothing for plain fp32."""
    if compute_dtype == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def evaluate(
    model: Any,
    examples: Sequence[EncodedExample],
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    compute_dtype: str,
) -> HeldOutMetrics:
    """Token-weighted loss over the answers of `examples`, so long answers count fully."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad(), forward_context(device, compute_dtype):
        for start in range(0, len(examples), batch_size):
            batch = {
                k: v.to(device)
                for k, v in collate(examples[start : start + batch_size], pad_id).items()
            }
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
            targets = batch["labels"][:, 1:]
            total += F.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                targets.reshape(-1),
                ignore_index=IGNORE,
                reduction="sum",
            ).item()
            tokens += int((targets != IGNORE).sum())
    model.train(was_training)
    loss = total / tokens
    return HeldOutMetrics(loss=loss, perplexity=math.exp(loss), tokens=tokens)
