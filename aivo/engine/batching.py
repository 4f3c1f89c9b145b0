"""Continuous batching across LoRA adapters: one forward pass per decoding step for every row.

One thread owns the model. Between steps it retires finished and cancelled rows, runs queued
model commands (adapter loads and deletes), and prefills newcomers, whose KV cache joins the
running batch; every row names its own adapter through the AdapterModel's `adapter_names`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import torch

from aivo.engine.answer_text import AnswerText
from aivo.engine.detokenize import IncrementalDecoder
from aivo.engine.draws import row_generator
from aivo.engine.forward import decode_step, prefill
from aivo.engine.kv_cache import BatchCache
from aivo.engine.loader import LoadedModel
from aivo.engine.lora import BASE_ADAPTER, AdapterModel
from aivo.engine.prefill_groups import CPU_PASS_TOKENS, prefill_groups
from aivo.engine.prefix_cache import BASE_WEIGHTS, PrefixCache, PrefixLookup
from aivo.engine.rows import BatchRow, GenerationFailed
from aivo.engine.sampling import SamplingParams
from aivo.engine.steering import Steering
from aivo.engine.streaming import RequestStream
from aivo.errors import InvalidRequest, ModelUnavailable, Overloaded
from aivo.observability import (
    BATCH_ACTIVE_ROWS,
    BATCH_ROWS,
    BATCH_WAITING,
    MODEL_TOKENS,
    TIME_TO_FIRST_TOKEN,
    get_logger,
    log_event,
)

log = get_logger("aivo.engine.batching")

T = TypeVar("T")
Command = tuple[Callable[[], Any], Future[Any]]
Prefilled = tuple[list[BatchRow], BatchCache, list[int]]


class ContinuousBatcher:
    """Serves many requests, each with its own adapter, through one model thread.

    `loaded.model` must be an AdapterModel (`gather_adapters`, or PEFT's `wrap_for_adapters`).
    When the batch is idle, the first request waits up to `batch_wait_ms` for others to fill it;
    while it runs, requests join at the next step boundary (`join_running=False` keeps them
    waiting until the batch is empty: window-only batching, kept for comparison). At most
    `max_batch_size` rows run at once and `max_queued_requests` wait; past that, `submit` raises
    Overloaded.
    With a `prefix_cache`, a newcomer prefills only what follows the longest prefix of its
    prompt that an earlier prompt computed under the same weights.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        max_batch_size: int = 16,
        batch_wait_ms: float = 5.0,
        max_queued_requests: int = 128,
        join_running: bool = True,
        prefix_cache: PrefixCache | None = None,
    ) -> None:
        if not hasattr(loaded.model, "holds_adapter"):
            raise TypeError("ContinuousBatcher needs an AdapterModel: pass gather_adapters(loaded)")
        self.loaded = loaded
        self.model: AdapterModel = loaded.model
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000
        self.max_queued_requests = max_queued_requests
        self.join_running = join_running
        self.prefix_cache = prefix_cache
        pad_id = loaded.tokenizer.pad_token_id
        self._pad_id = int(loaded.tokenizer.eos_token_id if pad_id is None else pad_id)
        self._eos = loaded.eos_token_ids
        # newcomers prefill in runs on a CPU (`prefill_groups`), one step apart when rows join
        # a running batch; a GPU pads for free, and window-only batching admits all at once
        cpu = loaded.device.type == "cpu"
        self._pass_tokens = CPU_PASS_TOKENS if cpu and join_running else None
        self._wake = threading.Condition()
        self._waiting: deque[BatchRow] = deque()
        self._commands: deque[Command] = deque()
        self._rows: list[BatchRow] = []
        self._cache: BatchCache | None = None
        self._closed = False
        self._report_load()
        self._thread = threading.Thread(target=self._run, name="aivo-batcher", daemon=True)
        self._thread.start()

    # --- the event-loop side -----------------------------------------------------------------

    def submit(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        adapter: str | None = None,
        weights: str | None = None,
    ) -> RequestStream:
        """Queue a request; `adapter` is a loaded PEFT adapter name, None for the base model.

        `weights` names what the adapter's slot holds now (its student, version and weights
        digest): a slot's name outlives its weights, so without it the row skips the prefix cache.
        """
        if not prompt_ids:
            raise InvalidRequest("a request needs prompt tokens")
        stream = RequestStream(asyncio.get_running_loop())
        generator = row_generator(self.loaded.device, params.seed) if params.samples else None
        answer = AnswerText(IncrementalDecoder(self.loaded.tokenizer), params.stop)
        if adapter is None:
            adapter, weights = BASE_ADAPTER, BASE_WEIGHTS
        steering = Steering(params, self.loaded.tokenizer) if params.steers else None
        row = BatchRow(
            list(prompt_ids), params, adapter, generator, answer, stream, weights, steering=steering
        )
        with self._wake:
            if self._closed:
                raise ModelUnavailable("the model is shutting down", retry_after_s=1)
            if len(self._waiting) >= self.max_queued_requests:
                raise Overloaded("the inference queue is full; retry shortly", retry_after_s=1)
            self._waiting.append(row)
            self._report_load()
            self._wake.notify()
        return stream

    async def run_between_steps(self, command: Callable[[], T]) -> T:
        """Run `command` on the model thread between two forward passes; its result or error."""
        future: Future[T] = Future()
        with self._wake:
            if self._closed:
                raise ModelUnavailable("the model is shutting down", retry_after_s=1)
            self._commands.append((command, future))
            self._wake.notify()
        return await asyncio.wrap_future(future)

    @property
    def active_rows(self) -> int:
        return len(self._rows)

    @property
    def waiting_requests(self) -> int:
        return len(self._waiting)

    def close(self) -> None:
        """Stop the model thread; unfinished requests end with ModelUnavailable."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    # --- the model thread --------------------------------------------------------------------

    def _run(self) -> None:
        while (work := self._next_work()) is not None:
            newcomers, commands = work
            try:
                for command, future in commands:
                    _run_command(command, future)
                self._retire()
                self._admit(newcomers)
                self._retire()
                if self._rows:
                    self._decode()
            except Exception as error:  # a failed step fails its rows; the loop keeps serving
                failure = _failure(error)
                for row in self._rows + newcomers:
                    row.fail(failure)
                self._rows, self._cache = [], None
        shutdown = ModelUnavailable("the model is shutting down", retry_after_s=1)
        with self._wake:
            leftovers = [*self._waiting, *self._rows]
            commands = list(self._commands)
            self._waiting.clear()
            self._commands.clear()
        for row in leftovers:
            row.fail(shutdown)
        for _, future in commands:
            future.set_exception(shutdown)

    def _next_work(self) -> tuple[list[BatchRow], list[Command]] | None:
        """Newcomers to admit and commands to run; blocks while there is nothing to do."""
        with self._wake:
            while not self._closed:
                self._report_load()
                commands = list(self._commands)
                self._commands.clear()
                if self._rows:
                    return (self._take_waiting() if self.join_running else []), commands
                if self._waiting:
                    wait = self._waiting[0].arrived + self.batch_wait_s - time.monotonic()
                    if len(self._waiting) >= self.max_batch_size or wait <= 0 or commands:
                        return self._take_waiting(), commands
                    self._wake.wait(wait)  # the window: let a batch gather before it runs
                elif commands:
                    return [], commands
                else:
                    self._wake.wait()
            return None

    def _take_waiting(self) -> list[BatchRow]:
        room = self.max_batch_size - len(self._rows)
        return [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]

    def _retire(self) -> None:
        """Drop finished and cancelled rows, and rows whose adapter was unloaded under them."""
        for row in self._rows:
            if row.stream.cancelled and not row.finished:
                row.finish("cancelled")
            elif not self._adapter_loaded(row):
                row.fail(GenerationFailed(f"adapter {row.adapter!r} was unloaded mid-answer"))
        keep = [i for i, row in enumerate(self._rows) if not row.finished]
        if len(keep) == len(self._rows):
            return
        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._cache = None
        elif self._cache is not None:
            self._cache.keep(keep)

    def _admit(self, newcomers: list[BatchRow]) -> None:
        ready = []
        for row in newcomers:
            if row.stream.cancelled:
                row.finish("cancelled")
            elif not self._adapter_loaded(row):
                row.fail(GenerationFailed(f"adapter {row.adapter!r} is not loaded"))
            else:
                ready.append(row)
        if not ready:
            return
        reuse = self.prefix_cache
        left = [
            len(r.prompt_ids) - (reuse.cached_tokens(r.prompt_ids, _reusable(r)) if reuse else 0)
            for r in ready
        ]
        runs = [[ready[i] for i in run] for run in prefill_groups(left, self._pass_tokens)]
        # the shortest run starts now, unless rows were put off before: then the oldest's run
        put_off = [run for run in runs if any(row.put_off for row in run)]
        rows = min(put_off, key=_oldest) if put_off else runs[0]
        later = [row for run in runs if run is not rows for row in run]
        if later:  # they start after the next step, which gives these rows their first tokens
            for row in later:
                row.put_off = True
            with self._wake:
                self._waiting.extendleft(reversed(later))
        self._start(
            rows, [reuse.lookup(r.prompt_ids, _reusable(r)) if reuse else None for r in rows]
        )

    def _start(self, rows: list[BatchRow], lookups: list[PrefixLookup | None]) -> None:
        """Prefill the rows and add them to the running batch with their first tokens."""
        try:
            prefilled = [self._prefill(rows, lookups)]
        except Exception:
            # one bad request must not fail the others that arrived with it: retry one by one
            prefilled = []
            for row, lookup in zip(rows, lookups, strict=True):
                try:
                    prefilled.append(self._prefill([row], [lookup]))
                except Exception as error:
                    row.fail(_failure(error))
        for started, cache, tokens in prefilled:
            if self._cache is None:
                self._cache = cache
            else:
                self._cache.join(cache)
            self._rows.extend(started)
            MODEL_TOKENS.labels(model=self.loaded.name).inc(len(started))
            for row, token in zip(started, tokens, strict=True):
                TIME_TO_FIRST_TOKEN.labels(model=self.loaded.name).observe(
                    time.monotonic() - row.arrived
                )
                row.accept(token, self._eos)

    def _prefill(self, rows: list[BatchRow], lookups: list[PrefixLookup | None]) -> Prefilled:
        """The rows' prompts through the model, each after its cached prefix (if found): their
        own cache and first tokens."""
        prompts = [r.prompt_ids for r in rows]
        adapters = [r.adapter for r in rows]
        prefixes = [lookup.kv if lookup else None for lookup in lookups]
        device = self.loaded.device
        cache, logits = prefill(self.model, prompts, self._pad_id, device, adapters, prefixes)
        for i, (row, lookup) in enumerate(zip(rows, lookups, strict=True)):
            if self.prefix_cache is not None and lookup is not None:
                self.prefix_cache.store(lookup, cache, i, len(row.prompt_ids))
        return rows, cache, self._pick(rows, logits)

    def _decode(self) -> None:
        """One step: every row's last token in, every row's next token out."""
        if self._cache is None:
            raise RuntimeError("rows without a cache")
        ids = torch.tensor([[r.last_token] for r in self._rows], device=self.loaded.device)
        logits = decode_step(self.model, self._cache, ids, [r.adapter for r in self._rows])
        # counted before the tokens are accepted: a finished row's caller may read them at once
        BATCH_ROWS.labels(model=self.loaded.name).observe(len(self._rows))
        MODEL_TOKENS.labels(model=self.loaded.name).inc(len(self._rows))
        for row, token in zip(self._rows, self._pick(self._rows, logits), strict=True):
            row.accept(token, self._eos)

    def _report_load(self) -> None:
        """The batch and queue sizes as gauges (called under the lock, as they change)."""
        BATCH_ACTIVE_ROWS.labels(model=self.loaded.name).set(len(self._rows))
        BATCH_WAITING.labels(model=self.loaded.name).set(len(self._waiting))

    def _adapter_loaded(self, row: BatchRow) -> bool:
        return row.adapter == BASE_ADAPTER or self.model.holds_adapter(row.adapter)

    def _pick(self, rows: list[BatchRow], logits: torch.Tensor) -> list[int]:
        return [row.pick(row_logits) for row, row_logits in zip(rows, logits, strict=True)]


def _oldest(rows: list[BatchRow]) -> float:
    return min(row.arrived for row in rows)


def _reusable(row: BatchRow) -> str | None:
    """The weights under which the row's prompt may meet cached prefix KV; None for a seeded
    row: a prefix reused in bf16 shifts its logits a little, and a seed must repeat its answer."""
    return None if row.params.seed is not None else row.weights


def _run_command(command: Callable[[], Any], future: Future[Any]) -> None:
    try:
        future.set_result(command())
    except Exception as error:  # the caller gets it; the model thread carries on
        future.set_exception(error)


def _failure(error: Exception) -> GenerationFailed:
    log_event(log, "generation failed", error=type(error).__name__)
    message = f"generation failed: {type(error).__name__}: {error}"
    return GenerationFailed(message[:300], retry_after_s=1)
