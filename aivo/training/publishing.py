"""Publishing a trained adapter: its metadata, and the PEFT folder handed to the adapter store."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from peft import PeftModel

from aivo.adapters import AdapterStore
from aivo.config import TrainingConfig

LIBRARIES = ("torch", "transformers", "peft")


def clone_metadata(
    *,
    base_model: str,
    dataset_sha256: str,
    settings: TrainingConfig,
    metrics: Mapping[str, Any],
    durations_s: Mapping[str, float],
) -> dict[str, Any]:
    """What a published version records about how it was made (no student data)."""
    return {
        "base_model": base_model,
        "dataset_sha256": dataset_sha256,
        "settings": settings.model_dump(mode="json"),
        "metrics": dict(metrics),
        "durations_s": dict(durations_s),
        "trained_at": datetime.now(UTC).isoformat(),
        "libraries": {name: version(name) for name in LIBRARIES},
    }


def publish_adapter(
    store: AdapterStore,
    student_id: str,
    model: PeftModel,
    base_model: str,
    metadata: Mapping[str, Any],
    *,
    requested_at: float,
) -> int:
    """Save the model's adapter as a PEFT folder and publish it as the student's live version,
    unless the student was deleted after `requested_at` (StudentDeleted)."""
    # PEFT would record the local cache folder the base was loaded from; the model name is portable
    model.peft_config["default"].base_model_name_or_path = base_model
    with tempfile.TemporaryDirectory(prefix="aivo-clone-") as folder:
        # False: "auto" would look the base name up on the Hugging Face Hub to compare vocabularies
        model.save_pretrained(folder, save_embedding_layers=False)
        return store.publish(student_id, Path(folder), metadata, requested_at=requested_at)
