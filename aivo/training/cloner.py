"""`LoRACloner`: one student's clone from dataset to published adapter, on one loaded base model.

A plain class: the clone job runs one per student as a Ray actor, tests call it directly. The
base model is trained in fp32 (LoRA updates are small next to bf16's rounding) and handed back
unchanged after each clone, so one cloner can clone several students in turn.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from aivo.adapters import AdapterStore, open_store
from aivo.adapters.layout import checked_student_id
from aivo.config import ModelSpec
from aivo.engine.loader import LoadedModel, load_model
from aivo.errors import AivoError
from aivo.observability import get_logger, log_event, pseudonym
from aivo.security.pseudonyms import key_pseudonyms
from aivo.training.dataset import parse_dataset
from aivo.training.evaluation import HeldOutMetrics, evaluate
from aivo.training.progress import progress_for
from aivo.training.publishing import clone_metadata, publish_adapter
from aivo.training.results import CloneResult, CloneStatus, CloneTask
from aivo.training.settings import CloneJobConfig
from aivo.training.sources import read_dataset
from aivo.training.tokenization import encode_examples, split_held_out
from aivo.training.trainer import TrainingRun, attach_lora, train

log = get_logger("aivo.training")


def training_spec(spec: ModelSpec) -> ModelSpec:
    """The base model as it is trained: full fp32 weights, whatever the serving chain uses."""
    return spec.model_copy(update={"dtype": "float32", "quantization": "none"})


class PhaseTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = round(time.perf_counter() - started, 3)


class LoRACloner:
    def __init__(
        self,
        config: CloneJobConfig,
        *,
        base: LoadedModel | None = None,
        store: AdapterStore | None = None,
        torch_threads: int | None = None,
    ) -> None:
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)  # Ray sets OMP threads from num_cpus; be explicit
        key_pseudonyms(config.pseudonym_key)  # an actor is a process of its own
        self.config = config
        self._base = base  # loaded on the first clone, so a load failure is that clone's result
        self.store = store or open_store(config.storage)

    @property
    def base_name(self) -> str:
        return self.config.engine.models[0].name

    def run(self, request: CloneTask) -> dict[str, Any]:
        """`clone` as the job's summary dict; a failure becomes a failed summary, not a raise."""
        try:
            return self.clone(request).summary()
        except AivoError as error:
            result = CloneResult.failure(request.student_id, error)
        except Exception as error:  # unexpected: keep the traceback in the logs, report one line
            log.exception("clone crashed", extra={"fields": {"student": _label(request)}})
            message = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            result = CloneResult(
                request.student_id, CloneStatus.failed, reason=message, error_code="internal_error"
            )
        log_event(log, "clone failed", student=_label(request), error=result.error_code)
        return result.summary()

    def clone(self, request: CloneTask) -> CloneResult:
        """Train, evaluate and (if held-out loss improved) publish one student's adapter."""
        student_id = checked_student_id(request.student_id)
        settings, label, timer = self.config.training, _label(request), PhaseTimer()
        with timer("load_data"):
            dataset = parse_dataset(read_dataset(request.dataset_uri, self.config.storage))
            train_split, held_out = split_held_out(
                dataset.examples, settings.eval_fraction, settings.seed
            )
        with timer("load_model"):
            base = self._loaded_base()
        with timer("tokenize"):
            train_ids = encode_examples(base.tokenizer, train_split, settings.max_seq_length)
            held_out_ids = encode_examples(base.tokenizer, held_out, settings.max_seq_length)
        log_event(log, "clone started", student=label, examples=len(dataset.examples))
        model = attach_lora(base.model, settings)
        pad_id = base.tokenizer.pad_token_id

        def held_out_loss() -> HeldOutMetrics:
            return evaluate(
                model,
                held_out_ids,
                batch_size=settings.batch_size,
                pad_id=pad_id,
                device=base.device,
                compute_dtype=settings.compute_dtype,
            )

        try:
            with timer("evaluate_before"):
                before = held_out_loss()
            with timer("train"):
                progress = progress_for(settings.steps, label, settings.log_every)
                run = train(
                    model, train_ids, settings, pad_id=pad_id, device=base.device, progress=progress
                )
            with timer("evaluate_after"):
                after = held_out_loss()
            metrics = _metrics(len(train_split), len(held_out), before, after, run)
            gain = before.loss - after.loss
            if not gain > settings.min_improvement:  # `not >`: a NaN loss is no improvement
                reason = (
                    f"held-out loss did not improve enough: {before.loss:.4f} -> {after.loss:.4f}"
                    f" (needs a drop > {settings.min_improvement})"
                )
                log_event(log, "clone not published", student=label, **_losses(before, after))
                return CloneResult(
                    student_id,
                    CloneStatus.not_published,
                    reason=reason,
                    metrics=metrics,
                    durations_s=timer.seconds,
                )
            metadata = clone_metadata(
                base_model=self.base_name,
                dataset_sha256=dataset.sha256,
                settings=settings,
                metrics=metrics,
                durations_s=dict(timer.seconds),
            )
            with timer("publish"):
                version = publish_adapter(
                    self.store,
                    student_id,
                    model,
                    self.base_name,
                    metadata,
                    requested_at=request.requested_at,
                )
        finally:
            model.unload()  # takes the LoRA layers out again: the base is as it was loaded
        log_event(log, "clone published", student=label, version=version, **_losses(before, after))
        return CloneResult(
            student_id,
            CloneStatus.published,
            version=version,
            metrics=metrics,
            durations_s=timer.seconds,
        )

    def _loaded_base(self) -> LoadedModel:
        if self._base is None:
            self._base = load_model(training_spec(self.config.engine.models[0]), self.config.engine)
        return self._base


def _label(request: CloneTask) -> str:
    return pseudonym(request.student_id) or ""


def _losses(before: HeldOutMetrics, after: HeldOutMetrics) -> dict[str, float]:
    return {"loss_before": round(before.loss, 4), "loss_after": round(after.loss, 4)}


def _metrics(
    train_examples: int,
    eval_examples: int,
    before: HeldOutMetrics,
    after: HeldOutMetrics,
    run: TrainingRun,
) -> dict[str, Any]:
    return {
        "examples": train_examples + eval_examples,
        "train_examples": train_examples,
        "eval_examples": eval_examples,
        "eval_tokens": before.tokens,
        "steps": run.steps,
        "examples_seen": run.examples_seen,
        "steps_per_s": round(run.steps / run.seconds, 4) if run.seconds else None,
        "train_loss_first": run.losses[0] if run.losses else None,
        "train_loss_last": run.losses[-1] if run.losses else None,
        "eval_loss_before": before.loss,
        "eval_loss_after": after.loss,
        "perplexity_before": before.perplexity,
        "perplexity_after": after.perplexity,
    }
