"""The InferenceReplica class without Ray: a failing primary model opens its circuit and the
next model in the chain answers; timeouts and backpressure answer with their status codes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aivo.config import BUNDLED_MODEL, parse_config
from aivo.engine.generation import Generation
from aivo.engine.rows import GenerationFailed
from aivo.engine.sampling import SamplingParams
from aivo.errors import GenerationTimeout, Overloaded
from deployments.inference import InferenceReplica
from tests.fixtures.models import mismatched_model

pytestmark = pytest.mark.anyio
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
# an answer that outlasts the test's polling (a short one may end before it is seen running)
LONG = [{"role": "user", "content": "Count from 1 to 300, separated by commas."}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], InferenceReplica]]:
    made: list[InferenceReplica] = []

    def make(engine: dict[str, Any]) -> InferenceReplica:
        config = {"engine": engine, "storage": {"adapter_root": str(tmp_path / "adapters")}}
        made.append(InferenceReplica(parse_config(config)))
        return made[-1]

    yield make
    for inference in made:  # model threads must stop before the interpreter does
        inference.close()


async def until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_failing_primary_opens_its_circuit_and_the_fallback_answers(
    tmp_path: Path, bundled_model: Any, replica: Callable[[dict[str, Any]], InferenceReplica]
) -> None:
    broken = mismatched_model(tmp_path / "mismatched", bundled_model.tokenizer)
    inference = replica(
        {
            "models": [{"name": str(broken)}, {"name": BUNDLED_MODEL}],
            "breaker_failures": 2,
            "breaker_reset_s": 60,
        },
    )
    for _ in range(2):
        with pytest.raises(GenerationFailed):
            await inference.generate(MESSAGES, SamplingParams(4))
    answer = await inference.generate(MESSAGES, SamplingParams(4))
    assert isinstance(answer, Generation)
    assert answer.model == BUNDLED_MODEL and answer.fallback_used
    status = inference.status()
    assert status["circuits"] == {str(broken): "open", BUNDLED_MODEL: "closed"}  # type: ignore[comparison-overlap]
    assert status["ready"] is True and status["fallback_used"] is True


async def test_a_timeout_answers_504_and_frees_the_row(
    replica: Callable[[dict[str, Any]], InferenceReplica],
) -> None:
    inference = replica({"request_timeout_s": 0.3})
    with pytest.raises(GenerationTimeout) as caught:
        await inference.generate(MESSAGES, SamplingParams(1000))
    assert caught.value.status == 504
    batcher = inference.servers[BUNDLED_MODEL].batcher
    await until(lambda: batcher.active_rows == 0)  # the cancelled row leaves at the next step


async def test_past_the_queue_bound_requests_get_503_with_retry_after(
    replica: Callable[[dict[str, Any]], InferenceReplica],
) -> None:
    inference = replica({"max_batch_size": 1, "max_queued_requests": 1})
    running = [asyncio.create_task(inference.generate(LONG, SamplingParams(200)))]
    await until(lambda: BUNDLED_MODEL in inference.servers)
    batcher = inference.servers[BUNDLED_MODEL].batcher
    await until(lambda: batcher.active_rows == 1)
    # the model thread waits between two steps, so the batch and the queue hold still: one
    # request arriving while another still sits in the admission window would find it full
    resume = threading.Event()
    paused = asyncio.create_task(batcher.run_between_steps(resume.wait))
    try:
        running.append(asyncio.create_task(inference.generate(LONG, SamplingParams(200))))
        await until(lambda: batcher.waiting_requests == 1)
        assert batcher.active_rows == 1
        with pytest.raises(Overloaded) as caught:  # at once: a queued request would wait here
            await asyncio.wait_for(inference.generate(MESSAGES, SamplingParams(4)), 30)
        assert caught.value.status == 503 and caught.value.retry_after_s
    finally:
        resume.set()
        await paused
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
