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
MAX_TOKENS = 192  # room for a second opening, measured over as many words as the first
OPENING_TOKENS = 96  # enough for an opening's MIN_PROSE_WORDS


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


def _request(grade: str, question: str, max_tokens: int = MAX_TOKENS) -> GenerateRequest:
    return GenerateRequest(
        prompt=question, grade_level=grade, subject="science", max_tokens=max_tokens
    )


async def _answer(
    replica: InferenceReplica, grade: str, question: str, max_tokens: int = MAX_TOKENS
) -> TutoredAnswer:
    prompt = build_prompt(_request(grade, question, max_tokens), question, [])

    def generate(messages: Messages, max_tokens: int) -> AsyncIterator[ReplicaItem]:
        return replica.stream(messages, SamplingParams(max_tokens))

    result = None
    async for item in answer(prompt, None, generate, max_tokens):
        if isinstance(item, TutoredAnswer):
            result = item
    assert result is not None
    return result


async def test_far_above_the_band_the_closer_opening_is_kept(replica: InferenceReplica) -> None:
    try:
        question = "How does the government of the United States work?"
        prompt = build_prompt(_request("1", question), question, [])
        assert prompt.plainer is not None
        first, second = [
            (await replica.generate(m, SamplingParams(OPENING_TOKENS))).completion
            for m in (prompt.messages, prompt.plainer)
        ]
        first_text, second_text = first.text, second.text
        first_off, second_off = (level_offset(_opening(t), 1) for t in (first_text, second_text))
        assert first_off > FAR_ABOVE  # the 135M model writes far above grade 1's band

        result = await _answer(replica, "1", question)
        usage = result.generation.completion
        assert usage.prompt_tokens > first.prompt_tokens  # it was prompted twice
        assert usage.completion_tokens <= MAX_TOKENS  # and wrote within the request's budget
        # the learner gets the opening closer to the band (measured there at a chunk's end)
        kept = level_offset(_opening(result.text), 1)
        assert abs(kept) <= min(abs(first_off), abs(second_off)) + 0.5
        kept_text = second_text if result.plainer else first_text  # the first, continued
        assert result.text.startswith(_opening(kept_text).strip())
    finally:
        replica.close()


async def test_within_reach_of_the_band_nothing_is_regenerated(replica: InferenceReplica) -> None:
    try:
        question = "How does the government of the United States work?"
        prompt = build_prompt(_request("12", question, OPENING_TOKENS), question, [])
        alone = await replica.generate(prompt.messages, SamplingParams(OPENING_TOKENS))
        assert level_offset(_opening(alone.completion.text), 12) <= FAR_ABOVE

        result = await _answer(replica, "12", question, OPENING_TOKENS)
        assert not result.plainer
        assert result.generation.completion.completion_tokens <= OPENING_TOKENS  # it wrote once
    finally:
        replica.close()
