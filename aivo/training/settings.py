"""Settings of a LoRA clone: the adapter's shape, the training run, and the publish gate.

`TrainingSettings` is meant to become `AppConfig.training` (the `training:` block of a Serve
config); until then the clone job takes these defaults plus its command-line overrides.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aivo.config import EngineConfig, StorageConfig


class TrainingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rank: int = Field(8, ge=1, le=256, description="LoRA rank r of every adapted layer.")
    alpha: int = Field(16, ge=1, description="LoRA alpha; the update is scaled by alpha/r.")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input in training.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        min_length=1,
        description="Names of the base model's linear layers that get a LoRA adapter.",
    )
    steps: int = Field(
        60, ge=0, description="Optimizer steps; the training split is reshuffled each epoch."
    )
    learning_rate: float = Field(1e-3, ge=0, description="AdamW learning rate (constant).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay of the LoRA weights.")
    batch_size: int = Field(8, ge=1, le=256, description="Examples per micro-batch.")
    gradient_accumulation: int = Field(
        1, ge=1, le=64, description="Micro-batches summed into one optimizer step."
    )
    max_grad_norm: float = Field(1.0, gt=0, description="Gradients are clipped to this norm.")
    max_seq_length: int = Field(
        256, ge=16, le=8192, description="Tokens kept per example; longer ones are cut at the end."
    )
    # fp32 by default: bf16 autocast trained 3x slower on the 2-core CPUs (a cast per op)
    compute_dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="Weights stay fp32; `bfloat16` runs the forward pass under CPU/CUDA autocast.",
    )
    seed: int = Field(0, ge=0, description="Seeds the split, the shuffling, LoRA init and dropout.")
    eval_fraction: float = Field(
        0.2, gt=0, lt=1, description="Share of examples held out to evaluate before and after."
    )
    min_improvement: float = Field(
        0.0,
        ge=0,
        description="Held-out loss (nats/token) must fall by more than this to publish.",
    )
    cpus_per_student: int = Field(
        1, ge=1, description="CPUs each student's cloner actor reserves and uses as torch threads."
    )
    log_every: int = Field(5, ge=1, description="Steps between progress log lines.")


class CloneJobConfig(BaseModel):
    """Everything a clone needs: the base model (first of the chain), the store, training."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: EngineConfig = Field(description="The model chain; its first model is the base.")
    storage: StorageConfig = Field(description="The adapter store, also used to read S3 datasets.")
    training: TrainingSettings = Field(default_factory=TrainingSettings)
