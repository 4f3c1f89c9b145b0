"""The one plainer regeneration, decided on the real bundled model (fp32, greedy, no Ray): an
explanation whose opening reads far above the band is answered again from the plainer prompt,
and the opening closer to the band is the one the learner gets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aivo.config import BUNDLED_MODEL, parse_config
from aivo.curriculum.plain_language import level_offset
from aivo.curriculum.prompting import Messages, build_prompt
from aivo.curriculum.readability import MIN_PROSE_WORDS, prose_words
from aivo.engine.sampling import SamplingParams
from aivo.schemas import GenerateRequest
from aivo.service.answering import FAR_ABOVE, ReplicaItem, TutoredAnswer, answer
from deployments.inference import InferenceReplica

pytestmark = pytest.mark.anyio
MAX_TOKENS = 90


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def replica(tmp_path: Path) -> InferenceReplica:
    config = parse_config(
        {
            "engine": {
                "models": [{"name": BUNDLED_MODEL, "dtype": "float32"}],
                "request_timeout_s": 300,  # a shared 2-core machine
            },
            "storage": {"adapter_root": str(tmp_path / "adapters")},
        }
    )
    return InferenceReplica(config)


def _opening(text: str) -> str:
    """The first words of `text` that hold MIN_PROSE_WORDS of prose (where the loop decides)."""
    words = text.split(" ")
    for end in range(1, len(words) + 1):
        if prose_words(" ".join(words[:end])) >= MIN_PROSE_WORDS:
            return " ".join(words[:end])
    return text


async def _answer(replica: InferenceReplica, grade: str, question: str) -> TutoredAnswer:
    request = GenerateRequest(
        prompt=question, grade_level=grade, subject="science", max_tokens=MAX_TOKENS
    )
    prompt = build_prompt(request, question, [])

    def generate(messages: Messages, max_tokens: int) -> AsyncIterator[ReplicaItem]:
        return replica.stream(messages, SamplingParams(max_tokens))

    result = None
    async for item in answer(prompt, None, generate, MAX_TOKENS):
        if isinstance(item, TutoredAnswer):
            result = item
    assert result is not None
    return result


async def test_far_above_the_band_the_closer_opening_is_kept(replica: InferenceReplica) -> None:
    try:
        question = "How does the government of the United States work?"
        request = GenerateRequest(prompt=question, grade_level="1", subject="science")
        prompt = build_prompt(request, question, [])
        assert prompt.plainer is not None
        first = (await replica.generate(prompt.messages, SamplingParams(MAX_TOKENS))).completion
        second = (await replica.generate(prompt.plainer, SamplingParams(MAX_TOKENS))).completion
        first_text, second_text = first.text, second.text
        first_off, second_off = (level_offset(_opening(t), 1) for t in (first_text, second_text))
        assert first_off > FAR_ABOVE  # the 135M model writes far above grade 1's band

        result = await _answer(replica, "1", question)
        kept = second_text if abs(second_off) < abs(first_off) else first_text
        assert result.plainer == (kept is second_text)
        assert result.text.startswith(_opening(kept).strip())
        assert result.generation.completion.completion_tokens > MAX_TOKENS / 2  # both counted
    finally:
        replica.close()


async def test_within_reach_of_the_band_nothing_is_regenerated(replica: InferenceReplica) -> None:
    try:
        question = "How does the government of the United States work?"
        request = GenerateRequest(prompt=question, grade_level="12", subject="science")
        prompt = build_prompt(request, question, [])
        alone = await replica.generate(prompt.messages, SamplingParams(MAX_TOKENS))
        assert level_offset(_opening(alone.completion.text), 12) <= FAR_ABOVE

        result = await _answer(replica, "12", question)
        assert not result.plainer
        assert result.text == alone.completion.text.strip()
    finally:
        replica.close()
