"""Per-row sampling and repetition controls on the real bundled model, pinned to fp32 like
test_batching (where a row's greedy answer is the same in any batch shape)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest
import torch

from aivo.config import EngineConfig
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.draws import pick_token
from aivo.engine.generation import Completion
from aivo.engine.loader import LoadedModel
from aivo.engine.sampling import SamplingParams
from aivo.engine.streaming import RequestStream
from tests.fixtures.models import with_two_adapters

pytestmark = pytest.mark.anyio

POEM = "Write a poem about the sea."  # greedy, the bundled model loops on it within 80 tokens
FRUITS = "Give me a list of fruits."  # greedy, it lists the same two fruits again and again
WATER = "Tell me about the water cycle in a few sentences please."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def batcher(engine_config: EngineConfig) -> Iterator[ContinuousBatcher]:
    """The bundled model with two adapters, "kind" and "terse", in fp32."""
    loaded = with_two_adapters(engine_config, "float32")
    batcher = ContinuousBatcher(loaded, max_batch_size=8, batch_wait_ms=20)
    yield batcher
    batcher.close()


def prompt(loaded: LoadedModel, question: str) -> list[int]:
    return loaded.chat_prompt_ids([{"role": "user", "content": question}])


async def streamed(stream: RequestStream) -> tuple[list[str], Completion]:
    chunks = [chunk async for chunk in stream]
    return chunks, await stream.result()


async def test_a_loop_is_ended_and_trimmed_and_repetition_controls_prevent_it(
    batcher: ContinuousBatcher,
) -> None:
    poem = prompt(batcher.loaded, POEM)
    plain = batcher.submit(poem, SamplingParams(80))
    controlled = [
        batcher.submit(poem, SamplingParams(80, repetition_penalty=1.2)),
        batcher.submit(poem, SamplingParams(80, no_repeat_ngram_size=4)),
    ]
    chunks, looped = await streamed(plain)
    assert looped.loop_stopped and looped.finish_reason == "stop"
    assert looped.completion_tokens < 80
    assert "".join(chunks) == looped.text  # nothing streamed was taken back
    kept = len(batcher.loaded.tokenizer.encode(looped.text, add_special_tokens=False))
    assert kept <= looped.completion_tokens - 8  # at least a copy of the repeat was trimmed
    for stream in controlled:
        answer = await stream.result()
        assert not answer.loop_stopped and answer.text != looped.text


def top_count(loaded: LoadedModel, text: str) -> int:
    """How often the answer's most used token occurs."""
    return max(Counter(loaded.tokenizer.encode(text, add_special_tokens=False)).values())


async def test_frequency_and_presence_penalties_spread_the_tokens(
    batcher: ContinuousBatcher,
) -> None:
    fruits = prompt(batcher.loaded, FRUITS)
    plain, frequency, presence = await asyncio.gather(
        batcher.submit(fruits, SamplingParams(48)).result(),
        batcher.submit(fruits, SamplingParams(48, frequency_penalty=1.0)).result(),
        batcher.submit(fruits, SamplingParams(48, presence_penalty=1.5)).result(),
    )
    assert top_count(batcher.loaded, frequency.text) < top_count(batcher.loaded, plain.text)
    assert top_count(batcher.loaded, presence.text) < top_count(batcher.loaded, plain.text)


async def test_tiny_top_p_is_greedy_and_a_seed_reproduces_its_draws(
    batcher: ContinuousBatcher,
) -> None:
    water = prompt(batcher.loaded, WATER)
    greedy = batcher.submit(water, SamplingParams(16), "kind")
    nucleus = batcher.submit(water, SamplingParams(16, temperature=1.0, top_p=1e-6), "kind")
    sampled = [
        batcher.submit(water, SamplingParams(16, temperature=1.0, top_p=0.9, seed=seed), "kind")
        for seed in (11, 11, 12)
    ]
    results = await asyncio.gather(*(s.result() for s in [greedy, nucleus, *sampled]))
    texts = [r.text for r in results]
    assert texts[0] == texts[1]
    assert texts[2] == texts[3] != texts[4]


async def test_a_stop_string_ends_the_row_at_once_and_is_never_streamed(
    batcher: ContinuousBatcher,
) -> None:
    water = prompt(batcher.loaded, WATER)
    whole = await batcher.submit(water, SamplingParams(24)).result()
    stop = whole.text.split()[4]  # a word in the middle of the greedy answer
    expected = whole.text[: whole.text.index(stop)]
    chunks, stopped = await streamed(batcher.submit(water, SamplingParams(24, stop=(stop,))))
    assert stopped.text == expected == "".join(chunks)
    assert stopped.finish_reason == "stop" and not stopped.loop_stopped
    assert stopped.completion_tokens <= len(batcher.loaded.tokenizer.encode(expected)) + 3
    assert stop not in "".join(chunks)


async def test_greedy_with_controls_is_the_same_alone_and_in_a_mixed_batch(
    batcher: ContinuousBatcher,
) -> None:
    fruits, water, poem = (prompt(batcher.loaded, q) for q in (FRUITS, WATER, POEM))
    controls = SamplingParams(
        24,
        repetition_penalty=1.2,
        frequency_penalty=0.4,
        presence_penalty=0.3,
        no_repeat_ngram_size=3,
        stop=("banana",),
        plain_words=3.0,
        sentence_words=6,
    )
    alone = await batcher.submit(fruits, controls, "kind").result()
    others = [
        (water, SamplingParams(20, temperature=0.9, top_p=0.8, seed=3), "terse"),
        (poem, SamplingParams(30, frequency_penalty=-0.5, no_repeat_ngram_size=2), None),
    ]
    early = batcher.submit(*others[0])
    await anext(early)
    mixed = batcher.submit(fruits, controls, "kind")  # joins a running batch
    late = batcher.submit(*others[1])
    results = await asyncio.gather(mixed.result(), early.result(), late.result())
    assert results[0] == alone


@pytest.mark.parametrize("top_p", [5e-324, 1e-300, 1e-6])
def test_a_nucleus_below_float32s_range_keeps_the_most_likely_token(top_p: float) -> None:
    """top_p under float32's smallest value compares as 0 against the probabilities; the most
    likely token must stay in the nucleus, never an empty distribution."""
    logits = torch.randn(4096, generator=torch.Generator().manual_seed(7))
    params = SamplingParams(4, temperature=1.0, top_p=top_p)
    draws = {pick_token(logits, params, torch.Generator().manual_seed(s)) for s in range(20)}
    assert draws == {int(logits.argmax())}
