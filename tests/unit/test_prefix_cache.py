"""Shared-prefix KV reuse against the real bundled model, its real PEFT adapters, the real store.

fp32 is pinned as in test_batching.py: batch invariance is exact there, so reuse must change no
greedy answer at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from aivo.adapters import LocalAdapterStore
from aivo.config import EngineConfig
from aivo.curriculum.prompting import build_prompt
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.forward import prefill
from aivo.engine.loader import LoadedModel
from aivo.engine.lora import BASE_ADAPTER
from aivo.engine.prefix_cache import BASE_WEIGHTS, PrefixCache
from aivo.engine.residency import AdapterResidency
from aivo.engine.sampling import SamplingParams
from aivo.observability import REGISTRY
from aivo.schemas import GenerateRequest, StandardMatch
from tests.fixtures.adapters import make_adapter
from tests.fixtures.models import with_two_adapters

pytestmark = pytest.mark.anyio

QUESTIONS = [
    "Why do we have seasons on Earth?",
    "How do plants make their food?",
    "What causes thunder?",
    "Why does the moon change shape?",
    "What are the three states of matter?",
]
STANDARD = StandardMatch(code="5-ESS1-2", description="Patterns of daily shadows", score=0.5)


@pytest.fixture(scope="module")
def peft_model(engine_config: EngineConfig) -> LoadedModel:
    """fp32, with two random adapters named "kind" and "terse": their names are their weights."""
    return with_two_adapters(engine_config, "float32")


def tutor_prompt(loaded: LoadedModel, question: str, grade: str = "5") -> list[int]:
    body = {"prompt": question, "grade_level": grade, "subject": "science"}
    request = GenerateRequest.model_validate(body | {"accommodations": ["dyslexia"]})
    return loaded.chat_prompt_ids(build_prompt(request, question, [STANDARD]).messages)


@pytest.fixture(scope="module")
def prompts(peft_model: LoadedModel) -> list[list[int]]:
    return [tutor_prompt(peft_model, q) for q in QUESTIONS]


def common_prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))


def test_the_tutor_instructions_are_a_shared_token_prefix(
    peft_model: LoadedModel, prompts: list[list[int]]
) -> None:
    request = GenerateRequest.model_validate(
        {"prompt": "x", "grade_level": "5", "subject": "science", "accommodations": ["dyslexia"]}
    )
    instructions = build_prompt(request, "x", []).messages[0]["content"]
    tokens = len(peft_model.tokenizer.encode(instructions, add_special_tokens=False))
    shared = min(common_prefix(prompts[0], p) for p in prompts[1:])
    assert shared > tokens  # every instruction, and the chat template's tokens around them
    assert shared >= 0.6 * max(map(len, prompts))  # most of every prompt is shared


Job = tuple[list[int], str | None]  # a prompt and its adapter, whose name is its weights here


async def answers(batcher: ContinuousBatcher, jobs: list[Job]) -> list[str]:
    streams = [batcher.submit(p, SamplingParams(8), a, a) for p, a in jobs]
    return [(await s.result()).text for s in streams]


async def test_reuse_changes_no_greedy_answer(
    peft_model: LoadedModel, prompts: list[list[int]]
) -> None:
    jobs = [(p, a) for p in prompts[:3] for a in (None, "kind", "terse")]
    off = ContinuousBatcher(peft_model, max_batch_size=16, batch_wait_ms=20)
    try:
        expected = await answers(off, jobs)  # one batch: fp32 answers are batch invariant
    finally:
        off.close()
    cache = PrefixCache(peft_model.name, block_tokens=16)
    on = ContinuousBatcher(peft_model, max_batch_size=4, batch_wait_ms=20, prefix_cache=cache)
    try:
        cold = await answers(on, jobs[:3])  # one question under each adapter: nothing cached
        assert cache.stats.hit_tokens == 0
        running = on.submit(prompts[3], SamplingParams(24), "kind", "kind")
        await anext(running)
        warm = await answers(on, jobs[3:])  # mixed batches joining a running one, all hits
        await running.result()
    finally:
        on.close()
    assert cold + warm == expected
    assert len(set(expected[:3])) >= 2  # the adapters really change an answer
    assert cache.stats.hit_tokens >= 0.5 * sum(len(p) for p, _ in jobs[3:])


def test_a_newcomer_prefills_only_what_follows_its_cached_prefix(
    peft_model: LoadedModel, prompts: list[list[int]]
) -> None:
    cache = PrefixCache(peft_model.name, block_tokens=16)
    first = cache.lookup(prompts[0], BASE_WEIGHTS)
    batch, _ = prefill(peft_model.model, [prompts[0]], 0, peft_model.device, [BASE_ADAPTER])
    cache.store(first, batch, 0, len(prompts[0]))
    shared = common_prefix(prompts[0], prompts[1])
    again = cache.lookup(prompts[1], BASE_WEIGHTS)
    assert again.kv is not None and again.kv.shape[3] == shared // 16 * 16
    assert cache.lookup(prompts[1], "kind").kv is None  # other weights, other blocks
    assert cache.lookup(prompts[1], None).kv is None  # unknown weights: never cached


def test_the_cache_stays_within_its_bytes(
    peft_model: LoadedModel, prompts: list[list[int]]
) -> None:
    block_bytes = 30 * 2 * 3 * 16 * 64 * 4  # layers x (k, v) x kv heads x tokens x dim x fp32
    cache = PrefixCache("bytes-test", block_tokens=16, max_bytes=12 * block_bytes)
    for prompt in prompts:
        lookup = cache.lookup(prompt, BASE_WEIGHTS)
        batch, _ = prefill(
            peft_model.model, [prompt], 0, peft_model.device, [BASE_ADAPTER], [lookup.kv]
        )
        cache.store(lookup, batch, 0, len(prompt))
        assert cache.stats.nbytes <= cache.max_bytes
    assert cache.stats.evictions > 0
    # the newest prompt's chain survives from its first block on
    assert cache.lookup(prompts[-1], BASE_WEIGHTS).hit_blocks == (len(prompts[-1]) - 1) // 16
    labels = {"model": "bytes-test"}
    assert REGISTRY.get_sample_value("aivo_prefix_cache_bytes", labels) == cache.stats.nbytes
    evictions = REGISTRY.get_sample_value("aivo_prefix_cache_evictions_total", labels)
    assert evictions == cache.stats.evictions
    hits = REGISTRY.get_sample_value("aivo_prefix_cache_tokens_total", labels | {"result": "hit"})
    assert hits == cache.stats.hit_tokens > 0


def test_a_found_block_evicted_before_its_rows_store_is_kept_again(
    peft_model: LoadedModel, prompts: list[list[int]]
) -> None:
    """Rows are looked up when admitted and stored after their prefill: between the two, another
    row's store may evict a block this row found (a full cache, or prefill runs a step apart)."""
    cache = PrefixCache("evicted-test", block_tokens=16)
    warm = cache.lookup(prompts[0], BASE_WEIGHTS)
    batch, _ = prefill(peft_model.model, [prompts[0]], 0, peft_model.device, [BASE_ADAPTER])
    cache.store(warm, batch, 0, len(prompts[0]))
    found = cache.lookup(prompts[0], BASE_WEIGHTS)
    assert found.hit_blocks > 0
    cache.max_bytes = 1  # the next store evicts every block, those `found` holds included
    cache.store(warm, batch, 0, len(prompts[0]))
    assert cache.stats.nbytes == 0
    cache.max_bytes = 2**30
    again, _ = prefill(
        peft_model.model, [prompts[0]], 0, peft_model.device, [BASE_ADAPTER], [found.kv]
    )
    cache.store(found, again, 0, len(prompts[0]))  # used to raise KeyError
    assert cache.lookup(prompts[0], BASE_WEIGHTS).hit_blocks == found.hit_blocks


@pytest.fixture
def residency_batcher(peft_model: LoadedModel) -> Iterator[ContinuousBatcher]:
    cache = PrefixCache(peft_model.name, block_tokens=16)
    batcher = ContinuousBatcher(peft_model, batch_wait_ms=5, prefix_cache=cache)
    yield batcher
    batcher.close()


async def test_a_new_adapter_version_never_meets_the_old_versions_prefix(
    bundled_model: LoadedModel,
    prompts: list[list[int]],
    residency_batcher: ContinuousBatcher,
    tmp_path: Path,
) -> None:
    batcher = residency_batcher
    cache = batcher.prefix_cache
    assert cache is not None
    folders = [make_adapter(bundled_model.model, tmp_path / f"v{v}", seed=v) for v in (1, 2)]
    store = LocalAdapterStore(tmp_path / "store")
    residency = AdapterResidency(store, batcher, tmp_path / "cache", max_adapters=1)

    async def ask(
        prompt: list[int], tokens: int = 8, submitted: asyncio.Event | None = None
    ) -> tuple[int | None, str | None, str]:
        async with residency.use("ada") as choice:
            params = SamplingParams(tokens)
            stream = batcher.submit(prompt, params, choice.adapter_name, choice.weights)
            if submitted is not None:
                submitted.set()
            return choice.version, choice.adapter_name, (await stream.result()).text

    async def wave(version: int) -> tuple[str | None, list[str]]:
        """Every question at once: the slot that served them, and their answers."""
        answered = await asyncio.gather(*(ask(p) for p in prompts[:2]))
        assert {v for v, _, _ in answered} == {version}
        assert len({slot for _, slot, _ in answered}) == 1
        return answered[0][1], [text for _, _, text in answered]

    store.publish("ada", folders[0])
    _, v1 = await wave(1)  # nothing cached for these weights yet: prefilled in full
    submitted = asyncio.Event()
    long_v1 = asyncio.create_task(ask(prompts[3], 16, submitted))  # answering as v2 arrives
    await submitted.wait()
    store.publish("ada", folders[1])
    _, v2 = await wave(2)  # in full again: v1's blocks are not v2's
    assert (await long_v1)[0] == 1
    await residency.wait_idle()
    hits = cache.stats.hit_tokens
    v2_slot, v2_again = await wave(2)  # from v2's cached prefixes
    assert cache.stats.hit_tokens > hits
    store.publish("ada", folders[0])  # v3 has v1's weights: the LRU of one swaps it into v2's slot
    v3_slot, v3 = await wave(3)
    _, v3_again = await wave(3)

    assert v3_slot == v2_slot  # one slot name has held v2's weights, then v3's
    assert v1 != v2  # the versions really answer differently
    assert v2_again == v2 and v3 == v3_again == v1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
