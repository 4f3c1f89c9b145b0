"""nf4 (bitsandbytes 4-bit) with student adapters attached, through the product path:
AdapterResidency (load into slots, hot swap) and mixed ContinuousBatcher batches with PEFT's LoRA
forward (wrap_for_adapters) and the gathered one (gather_adapters) on top of the 4-bit layers, on
CPU and (marked gpu) on CUDA. The weights are 4-bit; the compute dtype is fp32, where
a row's greedy answer is the same in any batch shape (bf16 leaves near-ties that a different
batch shape can flip)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bitsandbytes.nn import Linear4bit
from peft.tuners.lora.bnb import Linear4bit as LoraLinear4bit

from aivo.adapters import LocalAdapterStore
from aivo.config import BUNDLED_MODEL, EngineConfig, ModelSpec
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.gathered_lora import GatheredLoraLinear, gather_adapters
from aivo.engine.loader import LoadedModel, load_model
from aivo.engine.lora import wrap_for_adapters
from aivo.engine.residency import AdapterResidency
from aivo.engine.sampling import SamplingParams
from tests.fixtures.adapters import make_adapter

pytestmark = pytest.mark.anyio

QUESTIONS = ["Name three planets.", "What is 2+2?", "Why is the sky blue?"]
TOKENS = 10


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def load_nf4(device: str, engine_config: EngineConfig) -> LoadedModel:
    spec = ModelSpec(name=BUNDLED_MODEL, quantization="nf4", dtype="float32")
    config = EngineConfig(models=[spec], device=device, cache_dir=engine_config.cache_dir)  # type: ignore[arg-type]
    loaded = load_model(spec, config)
    assert loaded.device.type == device
    return loaded


@pytest.fixture(scope="module", params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def nf4_model(request: pytest.FixtureRequest, engine_config: EngineConfig) -> LoadedModel:
    return load_nf4(request.param, engine_config)


@pytest.fixture(scope="module")
def store(nf4_model: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> LocalAdapterStore:
    """Students ann, bob and cy, each with a random adapter made on the 4-bit model itself."""
    root = tmp_path_factory.mktemp("nf4-adapters")
    store = LocalAdapterStore(root / "store")
    for seed, student in enumerate(["ann", "bob", "cy"]):
        store.publish(student, make_adapter(nf4_model.model, root / student, seed))
    return store


@pytest.fixture
async def served(
    nf4_model: LoadedModel, store: LocalAdapterStore, tmp_path: Path
) -> AsyncIterator[tuple[ContinuousBatcher, AdapterResidency]]:
    batcher = ContinuousBatcher(wrap_for_adapters(nf4_model), batch_wait_ms=50)
    residency = AdapterResidency(store, batcher, tmp_path / "cache", max_adapters=2)
    try:
        yield batcher, residency
    finally:
        await residency.wait_idle()
        batcher.close()


def questions(loaded: LoadedModel) -> list[list[int]]:
    return [loaded.chat_prompt_ids([{"role": "user", "content": q}]) for q in QUESTIONS]


async def answers(
    batcher: ContinuousBatcher,
    residency: AdapterResidency,
    jobs: list[tuple[list[int], str | None]],
) -> list[str]:
    """The jobs submitted together (one mixed batch); a job names a student or None (base)."""

    async def one(prompt: list[int], student: str | None) -> str:
        if student is None:
            return (await batcher.submit(prompt, SamplingParams(TOKENS)).result()).text
        async with residency.use(student) as choice:
            assert choice.adapter_name is not None, choice.fallback_reason
            return (
                await batcher.submit(prompt, SamplingParams(TOKENS), choice.adapter_name).result()
            ).text

    return list(await asyncio.gather(*(one(p, s) for p, s in jobs)))


async def test_nf4_mixed_batches_serve_hot_swapped_adapters(
    served: tuple[ContinuousBatcher, AdapterResidency], nf4_model: LoadedModel
) -> None:
    batcher, residency = served
    planets, sums, sky = questions(nf4_model)
    jobs: list[tuple[list[int], str | None]] = [
        (planets, None),
        (planets, "ann"),
        (planets, "bob"),
        (sums, "ann"),
        (sky, None),
    ]
    solo = [(await answers(batcher, residency, [job]))[0] for job in jobs]
    assert all(text.strip() for text in solo)
    assert solo[0] != solo[1] != solo[2] != solo[0]  # each adapter changes the answer
    layers = list(batcher.model.modules())
    assert any(isinstance(m, LoraLinear4bit) for m in layers)  # LoRA on top of 4-bit layers
    quantized = [m for m in layers if isinstance(m, Linear4bit)]
    assert quantized and all(m.weight.device.type == nf4_model.device.type for m in quantized)

    assert await answers(batcher, residency, jobs) == solo  # one mixed batch, the solo answers

    # cy takes the least recently used slot by hot swap; the base model must not change under it
    cy = (await answers(batcher, residency, [(planets, "cy")]))[0]
    assert residency.slots == 2 and ("cy", 1) in residency.resident()
    assert cy not in solo[:3]
    mixed = await answers(batcher, residency, [(planets, "cy"), (planets, None), (sky, None)])
    assert mixed == [cy, solo[0], solo[4]]


async def test_gathered_lora_on_4bit_layers_answers_as_peft_does(
    served: tuple[ContinuousBatcher, AdapterResidency],
    nf4_model: LoadedModel,
    engine_config: EngineConfig,
    store: LocalAdapterStore,
    tmp_path: Path,
) -> None:
    planets, sums, sky = questions(nf4_model)
    jobs: list[tuple[list[int], str | None]] = [
        (planets, None),
        (planets, "ann"),
        (sums, "bob"),
        (sky, "cy"),
        (sky, None),
        (sums, "ann"),
    ]
    expected = await answers(*served, jobs)  # PEFT's LoRA layers over the 4-bit ones
    gathered = gather_adapters(load_nf4(nf4_model.device.type, engine_config))
    batcher = ContinuousBatcher(gathered, batch_wait_ms=50)
    residency = AdapterResidency(store, batcher, tmp_path / "gathered", max_adapters=2)
    try:
        assert await answers(batcher, residency, jobs) == expected
        layers = [m for m in gathered.model.modules() if isinstance(m, GatheredLoraLinear)]
        assert layers and all(isinstance(m.base_layer, Linear4bit) for m in layers)
    finally:
        await residency.wait_idle()
        batcher.close()
