"""Gathered multi-LoRA against PEFT, on the real bundled model in fp32 (where a row's greedy answer
is the same in any batch shape) with real PEFT adapter folders of different ranks and targets."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model

from aivo.config import BUNDLED_MODEL, EngineConfig, ModelSpec
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.forward import prefill
from aivo.engine.gathered_lora import GatheredLoraLinear, gather_adapters
from aivo.engine.loader import LoadedModel, load_model
from aivo.engine.lora import BASE_ADAPTER, read_adapter, wrap_for_adapters
from aivo.engine.sampling import SamplingParams

pytestmark = pytest.mark.anyio

QUESTIONS = ["Name three planets.", "What is 2+2?", "Why is the sky blue?"]
TOKENS = 12
# (rank, alpha, targets, rslora): ranks differ (padding), targets differ (layers only some adapt)
SHAPES = {
    "ann": (8, 32, ["q_proj", "v_proj"], False),
    "bob": (4, 8, ["q_proj", "v_proj", "o_proj"], False),
    "cy": (16, 16, ["k_proj", "up_proj", "down_proj"], True),
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def fp32(engine_config: EngineConfig) -> LoadedModel:
    return load_model(ModelSpec(name=BUNDLED_MODEL, dtype="float32"), engine_config)


def save_adapter(model: torch.nn.Module, dest: Path, seed: int, shape: tuple) -> Path:  # type: ignore[type-arg]
    rank, alpha, targets, rslora = shape
    torch.manual_seed(seed)
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        target_modules=targets,
        use_rslora=rslora,
        init_lora_weights=False,
    )
    peft_model = get_peft_model(copy.deepcopy(model), config)
    peft_model.save_pretrained(dest)
    return dest


@pytest.fixture(scope="module")
def folders(fp32: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gathered")
    return {
        name: save_adapter(fp32.model, root / name, seed, shape)
        for seed, (name, shape) in enumerate(SHAPES.items())
    }


def served(fp32: LoadedModel, gathered: bool, folders: dict[str, Path]) -> LoadedModel:
    """A copy of the model with every adapter loaded under its student's name."""
    own = dataclasses.replace(fp32, model=copy.deepcopy(fp32.model))
    loaded = gather_adapters(own) if gathered else wrap_for_adapters(own)
    for name, folder in folders.items():
        loaded.model.load_slot(name, read_adapter(folder))
    return loaded


@pytest.fixture(scope="module")
def both(fp32: LoadedModel, folders: dict[str, Path]) -> Iterator[dict[str, ContinuousBatcher]]:
    batchers = {
        kind: ContinuousBatcher(served(fp32, kind == "gathered", folders), batch_wait_ms=100)
        for kind in ("gathered", "peft")
    }
    yield batchers
    for batcher in batchers.values():
        batcher.close()


async def answers(
    batcher: ContinuousBatcher, jobs: list[tuple[list[int], str | None]]
) -> list[str]:
    streams = [batcher.submit(p, SamplingParams(TOKENS), a) for p, a in jobs]  # one mixed batch
    return [(await s.result()).text for s in streams]


def jobs_for(loaded: LoadedModel) -> list[tuple[list[int], str | None]]:
    planets, sums, sky = (
        loaded.chat_prompt_ids([{"role": "user", "content": q}]) for q in QUESTIONS
    )
    return [
        (planets, "ann"),
        (sums, None),
        (planets, "bob"),
        (sky, "cy"),
        (planets, None),
        (sums, "ann"),
        (sky, "bob"),
        (planets, "cy"),
    ]


async def test_mixed_batches_answer_as_peft_does(
    both: dict[str, ContinuousBatcher], fp32: LoadedModel
) -> None:
    jobs = jobs_for(fp32)
    gathered = await answers(both["gathered"], jobs)
    assert gathered == await answers(both["peft"], jobs)
    assert len({gathered[0], gathered[2], gathered[4], gathered[7]}) == 4  # each adapter matters
    solo = [(await answers(both["gathered"], [job]))[0] for job in jobs]
    assert solo == gathered


async def test_first_logits_match_peft_closely(
    both: dict[str, ContinuousBatcher], fp32: LoadedModel
) -> None:
    jobs = jobs_for(fp32)
    prompts, adapters = [p for p, _ in jobs], [a or BASE_ADAPTER for _, a in jobs]

    def logits(batcher: ContinuousBatcher) -> torch.Tensor:
        return prefill(batcher.model, prompts, 0, fp32.device, adapters)[1]

    gathered, peft = await asyncio.gather(
        *(b.run_between_steps(lambda b=b: logits(b)) for b in both.values())
    )
    assert (gathered - peft).abs().max() < 1e-3


async def test_a_slot_reused_by_another_adapter_forgets_the_first(
    fp32: LoadedModel, folders: dict[str, Path]
) -> None:
    """cy adapts layers ann never touches: a swap and a delete leave none of them behind."""
    loaded = served(fp32, True, {"ann": folders["ann"]})
    model = loaded.model
    fresh = served(fp32, True, {"slot": folders["cy"]}).model
    batcher = ContinuousBatcher(loaded, batch_wait_ms=0)
    try:
        jobs = jobs_for(fp32)[:1]
        await batcher.run_between_steps(lambda: model.swap_slot("ann", read_adapter(folders["cy"])))
        swapped = await answers(batcher, [(jobs[0][0], "ann")])
        fresh_batcher = ContinuousBatcher(dataclasses.replace(loaded, model=fresh), batch_wait_ms=0)
        try:
            assert swapped == await answers(fresh_batcher, [(jobs[0][0], "slot")])
        finally:
            fresh_batcher.close()
        await batcher.run_between_steps(lambda: model.delete_slots(["ann"]))
        assert not model.holds_adapter("ann")
        layers = [m for m in model.modules() if isinstance(m, GatheredLoraLinear)]
        assert layers and all(not m.lora_a.any() and not m.lora_b.any() for m in layers)
    finally:
        batcher.close()


def test_adapters_it_cannot_serve_leave_the_model_unchanged(
    fp32: LoadedModel, folders: dict[str, Path], tmp_path: Path
) -> None:
    loaded = served(fp32, True, {})
    dora = LoraConfig(r=4, target_modules=["q_proj"], use_dora=True)
    folder = tmp_path / "dora"
    get_peft_model(copy.deepcopy(fp32.model), dora).save_pretrained(folder)
    adapter = read_adapter(folder)
    with pytest.raises(ValueError, match="use_dora"):
        loaded.model.load_slot("dora", adapter)
    ann = read_adapter(folders["ann"])
    renamed = {k.replace("q_proj", "no_such_proj"): t for k, t in ann.tensors.items()}
    with pytest.raises(ValueError, match="no layer"):
        loaded.model.load_slot("odd", dataclasses.replace(ann, tensors=renamed))
    assert not loaded.model.holds_adapter("dora") and not loaded.model.holds_adapter("odd")
    assert not any(isinstance(m, GatheredLoraLinear) for m in loaded.model.modules())
