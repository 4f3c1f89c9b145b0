"""The training loop on the real bundled model (fp32), and how it reports progress."""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import sys
import termios
from typing import Any

import pytest

from aivo.config import EngineConfig, TrainingConfig
from aivo.engine.loader import LoadedModel, load_model
from aivo.training.cloner import training_spec
from aivo.training.dataset import parse_dataset
from aivo.training.evaluation import evaluate
from aivo.training.progress import BarProgress, LogProgress, progress_for
from aivo.training.tokenization import encode_examples
from aivo.training.trainer import attach_lora, train
from support.datasets import student_dataset


@pytest.fixture(scope="module")
def base(engine_config: EngineConfig) -> LoadedModel:
    return load_model(training_spec(engine_config.models[0]), engine_config)


def test_a_few_steps_on_16_examples_lower_the_training_loss(base: LoadedModel) -> None:
    settings = TrainingConfig(steps=4, batch_size=4, learning_rate=1e-3, max_seq_length=128)
    examples = encode_examples(
        base.tokenizer, parse_dataset(student_dataset(16)).examples, settings.max_seq_length
    )
    options: dict[str, Any] = {"pad_id": base.tokenizer.pad_token_id, "device": base.device}
    model = attach_lora(base.model, settings)
    try:
        before = evaluate(model, examples, batch_size=8, compute_dtype="float32", **options)
        run = train(model, examples, settings, progress=LogProgress("t", 10), **options)
        after = evaluate(model, examples, batch_size=8, compute_dtype="float32", **options)
    finally:
        model.unload()
    assert run.steps == len(run.losses) == 4
    assert run.examples_seen == 16
    assert after.loss < before.loss - 0.1, (before, after)
    assert run.losses[-1] < run.losses[0]


def test_without_a_terminal_progress_is_plain_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    progress = progress_for(total=5, label="a1b2", every=2)
    assert isinstance(progress, LogProgress)
    with caplog.at_level(logging.INFO, logger="aivo.training"):
        for step in range(1, 6):
            progress.step(step, 5, 3.0 - step / 4)
        progress.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "aivo.training"]
    # the first and last step always, and every `every` steps in between
    assert lines == [
        "step 1/5 loss 2.7500",
        "step 2/5 loss 2.5000",
        "step 4/5 loss 2.0000",
        "step 5/5 loss 1.7500",
    ]
    assert all(getattr(r, "fields", None) == {"student": "a1b2"} for r in caplog.records)


def test_in_a_terminal_progress_is_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    leader, follower = os.openpty()  # a real terminal, so stderr.isatty() is true
    # 80 columns: a new pty is 0 wide, and tqdm draws nothing in no width
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    with open(follower, "w", closefd=True) as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        progress = progress_for(total=2, label="a1b2", every=1)
        assert isinstance(progress, BarProgress)
        progress.step(1, 2, 1.5)
        progress.step(2, 2, 1.25)
        progress.close()
        terminal.flush()
    shown = _read_all(leader)
    assert "clone a1b2" in shown
    assert "2/2" in shown
    assert "loss=1.2500" in shown


def _read_all(leader: int) -> str:
    """Everything the closed terminal was sent. A pty hands its input on asynchronously, so one
    read may return only the first write: read until the closed end says EIO."""
    chunks = []
    try:
        while chunk := os.read(leader, 65536):
            chunks.append(chunk)
    except OSError:  # EIO: the other end is closed and all it wrote has been read
        pass
    finally:
        os.close(leader)
    return b"".join(chunks).decode()
