"""One student's clone end to end on the real bundled model and a local adapter store."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch

from aivo.adapters import open_store
from aivo.config import BUNDLED_MODEL, EngineConfig, StorageConfig, TrainingConfig
from aivo.engine.loader import LoadedModel, load_model
from aivo.training.cloner import LoRACloner, training_spec
from aivo.training.results import CloneStatus, CloneTask
from aivo.training.settings import CloneJobConfig
from support.datasets import student_dataset

TINY = TrainingConfig(
    steps=3, batch_size=4, learning_rate=1e-3, max_seq_length=128, seed=7, log_every=1
)
METRICS = {
    "examples",
    "train_examples",
    "eval_examples",
    "eval_tokens",
    "steps",
    "examples_seen",
    "steps_per_s",
    "train_loss_first",
    "train_loss_last",
    "eval_loss_before",
    "eval_loss_after",
    "perplexity_before",
    "perplexity_after",
}
PHASES = {"load_data", "load_model", "tokenize", "evaluate_before", "train", "evaluate_after"}


@pytest.fixture(scope="module")
def base(engine_config: EngineConfig) -> LoadedModel:
    return load_model(training_spec(engine_config.models[0]), engine_config)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("datasets") / "student.jsonl"
    path.write_bytes(student_dataset(16))
    return path


def cloner(
    engine_config: EngineConfig, root: Path, base: LoadedModel | None, training: TrainingConfig
) -> LoRACloner:
    config = CloneJobConfig(
        engine=engine_config, storage=StorageConfig(adapter_root=str(root)), training=training
    )
    return LoRACloner(config, base=base)


def test_a_clone_is_published_with_its_metadata_and_is_reproducible(
    engine_config: EngineConfig, base: LoadedModel, dataset: Path, tmp_path: Path
) -> None:
    request = CloneTask("stu-7", str(dataset))
    first = cloner(engine_config, tmp_path / "a", base, TINY).clone(request)
    second = cloner(engine_config, tmp_path / "b", base, TINY).clone(request)

    assert first.status is CloneStatus.published and first.version == 1
    assert second.status is CloneStatus.published and second.version == 1
    assert first.metrics == {**second.metrics, "steps_per_s": first.metrics["steps_per_s"]}
    fetched = [
        open_store(StorageConfig(adapter_root=str(tmp_path / root))).fetch(
            "stu-7", tmp_path / f"{root}-copy"
        )
        for root in ("a", "b")
    ]
    weights = [(f.path / "adapter_model.safetensors").read_bytes() for f in fetched]
    assert weights[0] == weights[1]  # same seed and data: the same adapter, byte for byte

    metadata = fetched[0].metadata
    assert metadata["base_model"] == BUNDLED_MODEL
    assert metadata["dataset_sha256"] == hashlib.sha256(dataset.read_bytes()).hexdigest()
    assert metadata["settings"] == TINY.model_dump(mode="json")
    assert set(metadata["metrics"]) == METRICS
    assert set(metadata["durations_s"]) == PHASES
    assert set(metadata["libraries"]) == {"torch", "transformers", "peft"}
    assert metadata["trained_at"].endswith("+00:00")
    metrics = metadata["metrics"]
    assert (metrics["examples"], metrics["train_examples"], metrics["eval_examples"]) == (16, 13, 3)
    assert metrics["steps"] == 3 and metrics["examples_seen"] == 12
    assert metrics["eval_loss_after"] < metrics["eval_loss_before"]
    assert math.isclose(metrics["perplexity_before"], math.exp(metrics["eval_loss_before"]))
    assert math.isclose(metrics["perplexity_after"], math.exp(metrics["eval_loss_after"]))

    adapter_config = json.loads((fetched[0].path / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == BUNDLED_MODEL
    assert adapter_config["r"] == TINY.rank and adapter_config["lora_alpha"] == TINY.alpha
    assert sorted(adapter_config["target_modules"]) == sorted(TINY.target_modules)

    summary = first.summary()
    assert summary["event"] == "clone_result" and summary["status"] == "published"
    assert set(summary["durations_s"]) == PHASES | {"publish"}
    json.dumps(summary)  # the job prints it as one JSON line


def test_a_clone_that_does_not_improve_is_not_published(
    engine_config: EngineConfig, base: LoadedModel, dataset: Path, tmp_path: Path
) -> None:
    untrained = TINY.model_copy(update={"steps": 0})
    result = cloner(engine_config, tmp_path, base, untrained).clone(
        CloneTask("stu-8", str(dataset))
    )
    assert result.status is CloneStatus.not_published
    assert result.version is None
    assert result.reason is not None and "did not improve" in result.reason
    assert result.metrics["eval_loss_after"] == result.metrics["eval_loss_before"]
    assert open_store(StorageConfig(adapter_root=str(tmp_path))).live_version("stu-8") is None
    assert result.summary()["status"] == "not_published"


def test_the_base_model_is_handed_back_unchanged(
    engine_config: EngineConfig, base: LoadedModel, dataset: Path, tmp_path: Path
) -> None:
    before = {name: p.detach().clone() for name, p in base.model.named_parameters()}
    result = cloner(engine_config, tmp_path, base, TINY.model_copy(update={"steps": 1})).clone(
        CloneTask("stu-9", str(dataset))
    )
    assert result.metrics["steps"] == 1
    after = dict(base.model.named_parameters())
    assert set(after) == set(before)  # no LoRA layer left behind
    assert all(torch.equal(before[name], after[name]) for name in before)


@pytest.mark.parametrize(
    ("student_id", "dataset_text", "code", "reason"),
    [
        (
            "stu-1",
            b'{"prompt": "Q", "response": "A"}\n{"prompt": "Q"}\n',
            "invalid_dataset",
            "line 2: ",
        ),
        ("stu-1", None, "dataset_not_found", "does not exist"),
        ("../etc", b'{"prompt": "Q", "response": "A"}\n', "invalid_request", "student_id must"),
    ],
)
def test_expected_failures_are_failed_summaries_not_raises(
    engine_config: EngineConfig,
    tmp_path: Path,
    student_id: str,
    dataset_text: bytes | None,
    code: str,
    reason: str,
) -> None:
    path = tmp_path / "student.jsonl"
    if dataset_text is not None:
        path.write_bytes(dataset_text)
    # no base model given: these fail before one would be loaded
    summary = cloner(engine_config, tmp_path / "store", None, TINY).run(
        CloneTask(student_id, str(path))
    )
    assert summary["status"] == "failed"
    assert summary["error_code"] == code
    assert reason in summary["reason"]
    assert summary["version"] is None
