"""Training progress: a tqdm bar in a terminal, plain log lines in a job's logs."""

from __future__ import annotations

import sys
from typing import Protocol

from tqdm import tqdm

from aivo.observability import get_logger, log_event

log = get_logger("aivo.training")


class Progress(Protocol):
    def step(self, step: int, total: int, loss: float) -> None: ...

    def close(self) -> None: ...


class BarProgress:
    def __init__(self, total: int, label: str) -> None:
        self._bar = tqdm(total=total, desc=f"clone {label}", unit="step", file=sys.stderr)

    def step(self, step: int, total: int, loss: float) -> None:
        self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


class LogProgress:
    def __init__(self, label: str, every: int) -> None:
        self._label = label
        self._every = every

    def step(self, step: int, total: int, loss: float) -> None:
        if step % self._every == 0 or step in (1, total):
            log_event(log, f"step {step}/{total} loss {loss:.4f}", student=self._label)

    def close(self) -> None:
        return None


def progress_for(total: int, label: str, every: int) -> Progress:
    """A bar when a person watches stderr; otherwise a log line every `every` steps.

    `label` is a pseudonym: progress output never names the student.
    """
    if sys.stderr.isatty():
        return BarProgress(total, label)
    return LogProgress(label, every)
