"""The LoRA training loop: plain torch, AdamW over the adapter's weights, seeded throughout."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from aivo.config import TrainingConfig
from aivo.training.evaluation import forward_context
from aivo.training.progress import Progress
from aivo.training.tokenization import EncodedExample, collate


@dataclass(frozen=True)
class TrainingRun:
    steps: int
    losses: list[float]  # mean answer-token loss of each optimizer step
    examples_seen: int
    seconds: float


def lora_config(settings: TrainingConfig) -> LoraConfig:
    return LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        task_type="CAUSAL_LM",
    )


def attach_lora(model: Any, settings: TrainingConfig) -> PeftModel:
    """`model` with a fresh trainable LoRA adapter; only the adapter's weights get gradients."""
    torch.manual_seed(settings.seed)  # LoRA's A matrices start random: same seed, same start
    return get_peft_model(model, lora_config(settings))


def train(
    model: PeftModel,
    examples: Sequence[EncodedExample],
    settings: TrainingConfig,
    *,
    pad_id: int,
    device: torch.device,
    progress: Progress,
) -> TrainingRun:
    torch.manual_seed(settings.seed)  # dropout masks
    weights = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        weights, lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    batches = _micro_batches(examples, settings.batch_size, settings.seed)
    losses: list[float] = []
    started = time.perf_counter()
    model.train()
    try:
        for step in range(1, settings.steps + 1):
            optimizer.zero_grad(set_to_none=True)
            step_loss = 0.0
            for _ in range(settings.gradient_accumulation):
                batch = {k: v.to(device) for k, v in collate(next(batches), pad_id).items()}
                with forward_context(device, settings.compute_dtype):
                    loss = model(**batch).loss / settings.gradient_accumulation
                loss.backward()
                step_loss += loss.item()
            torch.nn.utils.clip_grad_norm_(weights, settings.max_grad_norm)
            optimizer.step()
            losses.append(step_loss)
            progress.step(step, settings.steps, step_loss)
    finally:
        model.eval()
        progress.close()
    seen = settings.steps * settings.gradient_accumulation * settings.batch_size
    return TrainingRun(settings.steps, losses, seen, time.perf_counter() - started)


def _micro_batches(
    examples: Sequence[EncodedExample], size: int, seed: int
) -> Iterator[list[EncodedExample]]:
    """Endless fixed-size batches over epochs, each epoch a fresh seeded shuffle."""
    generator = torch.Generator().manual_seed(seed)
    stream: list[EncodedExample] = []
    while True:
        while len(stream) < size:
            stream += [examples[i] for i in torch.randperm(len(examples), generator=generator)]
        batch, stream = stream[:size], stream[size:]
        yield batch
