"""ContinuousBatcher against the real bundled model and real PEFT adapters.

Batch invariance is exact in fp32, so the model here is pinned to fp32 whatever `dtype: auto`
picks on this CPU; what holds in bf16 is tested at the end of the module.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator

import pytest
import torch

from aivo.config import EngineConfig
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.detokenize import IncrementalDecoder
from aivo.engine.forward import prefill
from aivo.engine.loader import LoadedModel
from aivo.engine.rows import GenerationFailed
from aivo.engine.sampling import SamplingParams
from aivo.engine.streaming import RequestStream
from aivo.errors import Overloaded
from aivo.metrics import REGISTRY
from tests.fixtures.models import with_two_adapters

pytestmark = pytest.mark.anyio

QUESTIONS = [
    "What is 2+2?",
    "Tell me about the water cycle in a few sentences please.",
    "Hi",
    "Name three planets.",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def peft_model(engine_config: EngineConfig) -> LoadedModel:
    return with_two_adapters(engine_config, "float32")


@pytest.fixture(scope="module")
def prompts(peft_model: LoadedModel) -> list[list[int]]:
    return [peft_model.chat_prompt_ids([{"role": "user", "content": q}]) for q in QUESTIONS]


@pytest.fixture(scope="module")
def batcher(peft_model: LoadedModel) -> Iterator[ContinuousBatcher]:
    batcher = ContinuousBatcher(peft_model, max_batch_size=8, batch_wait_ms=20)
    yield batcher
    batcher.close()


async def answer(batcher: ContinuousBatcher, prompt: list[int], adapter: str | None, n: int) -> str:
    return (await batcher.submit(prompt, SamplingParams(n), adapter).result()).text


async def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise TimeoutError("the condition did not come true")


async def first_chunk(stream: RequestStream) -> str:
    return await anext(stream)


async def test_mixed_batch_gives_each_request_its_solo_answer(
    batcher: ContinuousBatcher, prompts: list[list[int]]
) -> None:
    jobs = [
        (prompts[0], "kind"),
        (prompts[0], "terse"),
        (prompts[1], None),
        (prompts[3], "terse"),
        (prompts[2], "kind"),
        (prompts[1], "kind"),
    ]
    solo = [await answer(batcher, p, a, 12) for p, a in jobs]
    assert solo[0] != solo[1] and solo[5] != solo[2]  # the adapters really change the answers

    early = [batcher.submit(p, SamplingParams(12), a) for p, a in jobs[:3]]
    await first_chunk(early[0])
    middle = [batcher.submit(p, SamplingParams(12), a) for p, a in jobs[3:5]]
    await first_chunk(middle[0])
    assert not early[0].done  # the newcomers joined a batch that was still running
    late = batcher.submit(jobs[5][0], SamplingParams(12), jobs[5][1])
    mixed = await asyncio.gather(*(s.result() for s in [*early, *middle, late]))
    assert [c.text for c in mixed] == solo


def peft_generate(loaded: LoadedModel, prompt: list[int], adapter: str | None, n: int) -> str:
    """PEFT's own greedy `generate` with a mixed-batch adapter name: the reference answer."""
    ids = torch.tensor([prompt])
    output = loaded.model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=n,
        do_sample=False,
        pad_token_id=loaded.tokenizer.eos_token_id,
        adapter_names=[adapter or "__base__"],
    )
    return str(loaded.tokenizer.decode(output[0, len(prompt) :], skip_special_tokens=True))


async def test_solo_answers_match_peft_generate(
    batcher: ContinuousBatcher, peft_model: LoadedModel, prompts: list[list[int]]
) -> None:
    for prompt, adapter in [(prompts[1], None), (prompts[0], "kind")]:
        reference = functools.partial(peft_generate, peft_model, prompt, adapter, 10)
        expected = await batcher.run_between_steps(reference)  # the model thread owns the model
        result = await batcher.submit(prompt, SamplingParams(10), adapter).result()
        assert result.text == expected and result.prompt_tokens == len(prompt)


async def test_each_row_stops_on_its_own(
    batcher: ContinuousBatcher, prompts: list[list[int]]
) -> None:
    long = batcher.submit(prompts[1], SamplingParams(40), "kind")
    short = batcher.submit(prompts[1], SamplingParams(3))
    ending = batcher.submit(prompts[2], SamplingParams(40))  # "Hi" is answered in a few words
    short_result = await short.result()
    assert short_result.completion_tokens == 3 and short_result.finish_reason == "length"
    assert not long.done
    ending_result = await ending.result()
    assert ending_result.finish_reason == "stop" and ending_result.completion_tokens < 40
    assert not long.done
    assert (await long.result()).completion_tokens == 40


@pytest.mark.parametrize("join_running", [True, False])
async def test_window_only_mode_keeps_newcomers_waiting(
    peft_model: LoadedModel, prompts: list[list[int]], join_running: bool
) -> None:
    batcher = ContinuousBatcher(peft_model, batch_wait_ms=0, join_running=join_running)
    try:
        first = batcher.submit(prompts[1], SamplingParams(16))
        await first_chunk(first)
        second = batcher.submit(prompts[0], SamplingParams(2))
        await second.result()
        assert first.done is not join_running  # continuous: the newcomer finished first
        await first.result()
    finally:
        batcher.close()


async def test_stream_chunks_make_up_the_final_text(
    batcher: ContinuousBatcher, peft_model: LoadedModel, prompts: list[list[int]]
) -> None:
    stream = batcher.submit(prompts[1], SamplingParams(20))
    chunks = [chunk async for chunk in stream]
    completion = await stream.result()
    assert len(chunks) >= 5
    assert "".join(chunks) == completion.text
    whole = batcher.submit(prompts[1], SamplingParams(20))
    assert (await whole.result()) == completion


async def test_the_batch_records_first_tokens_tokens_and_rows(
    batcher: ContinuousBatcher, peft_model: LoadedModel, prompts: list[list[int]]
) -> None:
    def value(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"model": peft_model.name}) or 0.0

    names = [
        "aivo_time_to_first_token_seconds_count",
        "aivo_model_tokens_total",
        "aivo_batch_rows_sum",
    ]
    before = [value(name) for name in names]
    completions = await asyncio.gather(
        *(batcher.submit(p, SamplingParams(6)).result() for p in prompts[:3])
    )
    produced = sum(c.completion_tokens for c in completions)
    first_tokens, tokens, decoded = (value(n) - b for n, b in zip(names, before, strict=True))
    assert (first_tokens, tokens) == (3, produced)
    assert decoded == produced - 3  # each step observes its rows: every token after the first
    await wait_for(lambda: value("aivo_batch_active_rows") == 0)
    assert value("aivo_batch_waiting_requests") == 0


def test_incremental_decoding_never_splits_a_character(peft_model: LoadedModel) -> None:
    text = "Café 🍎 naïve 東京 — ok"
    ids = peft_model.tokenizer.encode(text, add_special_tokens=False)
    decoder = IncrementalDecoder(peft_model.tokenizer)
    chunks = [decoder.push(i) for i in ids] + [decoder.flush()]
    assert "".join(chunks) == text == decoder.text
    assert not any("\ufffd" in c for c in chunks)
    assert len([c for c in chunks if c]) < len(ids)  # some tokens held back half a character


async def test_seeded_sampling_is_per_request(
    batcher: ContinuousBatcher, prompts: list[list[int]]
) -> None:
    same = [
        batcher.submit(prompts[1], SamplingParams(12, temperature=1.2, seed=7), "kind")
        for _ in range(2)
    ]
    other = batcher.submit(prompts[1], SamplingParams(12, temperature=1.2, seed=8), "kind")
    results = await asyncio.gather(*(s.result() for s in [*same, other]))
    assert results[0].text == results[1].text != results[2].text


async def test_cancel_frees_the_row(batcher: ContinuousBatcher, prompts: list[list[int]]) -> None:
    solo = [await answer(batcher, prompts[i], "terse", 16) for i in (0, 3)]
    doomed = batcher.submit(prompts[1], SamplingParams(200), "kind")
    others = [batcher.submit(prompts[i], SamplingParams(16), "terse") for i in (0, 3)]
    await asyncio.gather(*(first_chunk(s) for s in [doomed, *others]))
    assert batcher.active_rows == 3
    doomed.cancel()
    await wait_for(lambda: batcher.active_rows <= 2)
    cancelled = await doomed.result()
    assert cancelled.finish_reason == "cancelled" and cancelled.completion_tokens < 200
    assert [(await s.result()).text for s in others] == solo


async def test_overloaded_past_the_queue_bound(
    peft_model: LoadedModel, prompts: list[list[int]]
) -> None:
    batcher = ContinuousBatcher(peft_model, max_batch_size=1, max_queued_requests=2)
    try:
        running = batcher.submit(prompts[1], SamplingParams(200))
        await first_chunk(running)
        queued = [batcher.submit(prompts[0], SamplingParams(4)) for _ in range(2)]
        with pytest.raises(Overloaded) as caught:
            batcher.submit(prompts[0], SamplingParams(4))
        assert caught.value.status == 503 and caught.value.retry_after_s
        running.cancel()
        results = [await s.result() for s in queued]
        assert [r.completion_tokens for r in results] == [4, 4]
    finally:
        batcher.close()


async def test_a_failing_request_fails_alone(
    batcher: ContinuousBatcher, prompts: list[list[int]]
) -> None:
    solo = await answer(batcher, prompts[3], "kind", 12)
    good = batcher.submit(prompts[3], SamplingParams(12), "kind")
    await first_chunk(good)
    out_of_vocabulary = [*prompts[0][:-1], 10**7]  # the embedding lookup raises IndexError
    bad = [
        batcher.submit(out_of_vocabulary, SamplingParams(12)),
        batcher.submit(prompts[0], SamplingParams(12), "no-such-adapter"),
    ]
    for stream in bad:
        with pytest.raises(GenerationFailed) as caught:
            await stream.result()
        assert caught.value.status == 503
    assert (await good.result()).text == solo
    assert await answer(batcher, prompts[3], "kind", 12) == solo  # the loop still serves


def first_logits(loaded: LoadedModel, jobs: list[tuple[list[int], str | None]]) -> torch.Tensor:
    """Each row's next-token logits from one left-padded prefill of `jobs` as a mixed batch."""
    adapters = [adapter or "__base__" for _, adapter in jobs]
    _, logits = prefill(loaded.model, [p for p, _ in jobs], 0, loaded.device, adapters)
    return logits.float()


async def test_bf16_keeps_each_rows_adapter_and_repeats_itself(engine_config: EngineConfig) -> None:
    """What bf16 promises instead of batch invariance: a row is computed with its own adapter
    (its logits sit far closer to its solo logits than to another adapter's), and the same
    requests in the same batch give the same answers."""
    loaded = with_two_adapters(engine_config, "bfloat16")
    prompt = loaded.chat_prompt_ids([{"role": "user", "content": QUESTIONS[0]}])
    longer = loaded.chat_prompt_ids([{"role": "user", "content": QUESTIONS[1]}])
    jobs: list[tuple[list[int], str | None]] = [
        (prompt, "kind"),
        (longer, None),
        (prompt, "terse"),
        (prompt, None),
    ]
    mixed = first_logits(loaded, jobs)
    solo = {a: first_logits(loaded, [(prompt, a)])[0] for a in ("kind", "terse", None)}
    for row, adapter in ((0, "kind"), (2, "terse"), (3, None)):
        own = (mixed[row] - solo[adapter]).abs().max()
        others = [(mixed[row] - solo[o]).abs().max() for o in solo if o != adapter]
        assert own < 0.4 * min(others), (adapter, own, others)

    batcher = ContinuousBatcher(loaded, max_batch_size=8, batch_wait_ms=50)
    try:
        runs = []
        for _ in range(2):
            streams = [batcher.submit(p, SamplingParams(12), a) for p, a in jobs]
            runs.append([(await s.result()).text for s in streams])
        assert runs[0] == runs[1]
    finally:
        batcher.close()


async def test_short_prompts_get_their_first_token_before_long_ones_are_prefilled(
    peft_model: LoadedModel, prompts: list[list[int]]
) -> None:
    if peft_model.device.type != "cpu":
        pytest.skip("prompts are prefilled in runs on a CPU only")
    text = " ".join(["The water cycle moves water between the sea, the air and the land."] * 20)
    long = [
        peft_model.chat_prompt_ids([{"role": "user", "content": f"{i}. Sum up: {text}"}])
        for i in range(3)
    ]
    jobs = [prompts[0], *long]
    batcher = ContinuousBatcher(peft_model, batch_wait_ms=200)
    try:
        solo = [(await batcher.submit(p, SamplingParams(4)).result()).text for p in jobs]
        streams = [batcher.submit(p, SamplingParams(4)) for p in jobs]
        await first_chunk(streams[0])
        assert batcher.active_rows == 1  # streaming while the long prompts are prefilled
        assert [(await s.result()).text for s in streams] == solo
    finally:
        batcher.close()
