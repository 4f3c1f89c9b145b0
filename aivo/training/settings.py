"""What a clone job is handed whole: the base model (first of the chain), the store, training."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from aivo.config import AppConfig, EngineConfig, SecretSource, StorageConfig, TrainingConfig


class CloneJobConfig(BaseModel):
    """Everything a clone needs: the base model (first of the chain), the store, training."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: EngineConfig = Field(description="The model chain; its first model is the base.")
    storage: StorageConfig = Field(description="The adapter store, also used to read S3 datasets.")
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    pseudonym_key: SecretSource = Field(
        default_factory=lambda: SecretSource(env="AIVO_PSEUDONYM_KEY"),
        description="Where the job's pseudonyms get their key: the one the replicas use.",
    )

    @classmethod
    def of(cls, app: AppConfig) -> CloneJobConfig:
        """The job's part of the application's config: replicas and clones share one model."""
        return cls(
            engine=app.engine,
            storage=app.storage,
            training=app.training,
            pseudonym_key=app.security.pseudonym_key,
        )
