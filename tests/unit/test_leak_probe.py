"""A read-back of the prompt by the real bundled model is caught: the answering loop over the
real InferenceReplica (no Ray). The instructions here are ones the 135M model is known to read
back word for word (a long rule about a checked solution, the solution in the user's turn)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aivo.config import BUNDLED_MODEL, parse_config
from aivo.curriculum.prompting import Messages, Prompt
from aivo.engine.sampling import SamplingParams
from aivo.safety.leaks import LeakCheck
from aivo.service.answering import ReplicaItem, TutoredAnswer, answer
from deployments.inference import InferenceReplica

pytestmark = pytest.mark.anyio
INSTRUCTIONS = (
    "You are AIVO, a patient tutor for a grade 3 student in math.",
    "Use everyday words. Keep sentences short.",
    "When a checked solution is given, explain it step by step and end with its answer.",
)
QUESTION = (
    "What is 7 times 8?\n\nChecked solution:\n1. 7 × 8 means 7 groups of 8.\n2. 7 × 8 = 56.\n"
    "Answer: 56"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_read_back_by_the_real_model_never_reaches_the_learner(tmp_path: Path) -> None:
    config = parse_config(
        {
            "engine": {"models": [{"name": BUNDLED_MODEL, "dtype": "float32"}]},
            "storage": {"adapter_root": str(tmp_path / "adapters")},
        }
    )
    replica = InferenceReplica(config)
    try:

        def generate(messages: Messages, max_tokens: int) -> AsyncIterator[ReplicaItem]:
            return replica.stream(messages, SamplingParams(max_tokens))

        messages = [
            {"role": "system", "content": "\n".join(INSTRUCTIONS)},
            {"role": "user", "content": QUESTION},
        ]
        prompt = Prompt(messages, INSTRUCTIONS, canary="T1234567")
        check = LeakCheck.of(INSTRUCTIONS, prompt.canary)
        raw = await replica.generate(messages, SamplingParams(60))
        assert check.leaks(raw.completion.text)  # the probe works: the model reads back

        released: list[str] = []
        result = None
        async for item in answer(prompt, None, generate, 60):
            if isinstance(item, TutoredAnswer):
                result = item
            else:
                released.append(item)
        assert result is not None and result.leak_removed
        assert not check.leaks("".join(released)) and not check.leaks(result.text)
    finally:
        replica.close()
