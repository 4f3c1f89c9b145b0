"""AdapterResidency: real PEFT adapters published to a local store, loaded into the real model,
through the gathered LoRA forward (served) and PEFT's (the reference)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import torch
from peft import LoraConfig

from aivo.adapters import LocalAdapterStore
from aivo.adapters.layout import ADAPTER_WEIGHTS, version_path
from aivo.adapters.store import FetchedAdapter
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.gathered_lora import gather_adapters
from aivo.engine.loader import LoadedModel
from aivo.engine.lora import wrap_for_adapters
from aivo.engine.residency import AdapterResidency
from aivo.engine.sampling import SamplingParams
from aivo.metrics import REGISTRY

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def peft_model(bundled_model: LoadedModel) -> LoadedModel:
    return wrap_for_adapters(
        dataclasses.replace(bundled_model, model=copy.deepcopy(bundled_model.model))
    )


@pytest.fixture(scope="module", params=["gathered", "peft"])
def served_model(
    request: pytest.FixtureRequest, bundled_model: LoadedModel, peft_model: LoadedModel
) -> LoadedModel:
    if request.param == "peft":
        return peft_model
    return gather_adapters(
        dataclasses.replace(bundled_model, model=copy.deepcopy(bundled_model.model))
    )


@pytest.fixture(scope="module")
def batcher(served_model: LoadedModel) -> Iterator[ContinuousBatcher]:
    batcher = ContinuousBatcher(served_model, batch_wait_ms=0)
    yield batcher
    batcher.close()


@pytest.fixture(scope="module")
def adapter_dirs(peft_model: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three saved PEFT adapters with different random weights."""
    root = tmp_path_factory.mktemp("adapters")
    model = peft_model.model
    folders = []
    for seed in range(3):
        torch.manual_seed(seed)
        name = f"made{seed}"
        config = LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        model.add_adapter(name, config)
        model.save_pretrained(root, selected_adapters=[name])  # saved under root/<name>/
        model.delete_adapter(name)
        folders.append(root / name)
    return folders


class CountingStore(LocalAdapterStore):
    """The local store, counting fetches."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.fetches = 0

    def fetch(self, student_id: str, dest_dir: Path, version: int | None = None) -> FetchedAdapter:
        self.fetches += 1
        return super().fetch(student_id, dest_dir, version)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(tmp_path / "store")


@pytest.fixture
async def residency(
    store: CountingStore, batcher: ContinuousBatcher, tmp_path: Path
) -> AsyncIterator[AdapterResidency]:
    residency = AdapterResidency(store, batcher, tmp_path / "cache")
    yield residency
    await residency.wait_idle()
    names = list(slot_names(batcher))  # leave the shared model as the test found it
    await batcher.run_between_steps(lambda: batcher.model.delete_slots(names))


def slot_names(batcher: ContinuousBatcher) -> set[str]:
    return {name for name in batcher.model.held_adapters() if name.startswith("slot_")}


def publish(store: CountingStore, folders: list[Path], *students: str) -> None:
    for student, folder in zip(students, folders, strict=False):
        store.publish(student, folder)


async def serve(
    residency: AdapterResidency, batcher: ContinuousBatcher, student: str, prompt: list[int]
) -> str:
    async with residency.use(student) as choice:
        assert choice.adapter_name is not None or choice.fallback_reason is not None
        return (await batcher.submit(prompt, SamplingParams(8), choice.adapter_name).result()).text


@pytest.fixture(scope="module")
def prompt(peft_model: LoadedModel) -> list[int]:
    return peft_model.chat_prompt_ids([{"role": "user", "content": "Name three planets."}])


async def test_lru_evicts_by_count(
    residency: AdapterResidency,
    store: CountingStore,
    adapter_dirs: list[Path],
    batcher: ContinuousBatcher,
) -> None:
    residency.max_adapters = 2
    publish(store, adapter_dirs, "ann", "bob", "cy")
    for student in ["ann", "bob", "ann", "cy"]:  # ann is used again before cy comes
        (await residency.resolve(student)).release()
    await residency.wait_idle()
    assert residency.resident() == [("ann", 1), ("cy", 1)]
    assert residency.slots == 2 and len(slot_names(batcher)) == 2  # cy took bob's slot


async def test_lru_evicts_by_bytes(
    residency: AdapterResidency,
    store: CountingStore,
    adapter_dirs: list[Path],
    batcher: ContinuousBatcher,
) -> None:
    publish(store, adapter_dirs, "ann", "bob", "cy")
    (await residency.resolve("ann")).release()
    one = residency.resident_bytes
    assert one > 0
    residency.max_bytes = int(one * 2.5)
    for student in ["bob", "cy"]:
        (await residency.resolve(student)).release()
    await residency.wait_idle()
    assert residency.resident() == [("bob", 1), ("cy", 1)]
    assert residency.resident_bytes == 2 * one and len(slot_names(batcher)) == 2


async def test_a_swapped_slot_answers_like_a_fresh_load(
    residency: AdapterResidency,
    store: CountingStore,
    adapter_dirs: list[Path],
    batcher: ContinuousBatcher,
    prompt: list[int],
) -> None:
    residency.max_adapters = 1
    publish(store, adapter_dirs, "ann", "bob")
    fresh = await serve(residency, batcher, "ann", prompt)
    other = await serve(residency, batcher, "bob", prompt)
    swapped = await serve(residency, batcher, "ann", prompt)
    base = (await batcher.submit(prompt, SamplingParams(8)).result()).text
    assert fresh == swapped and len({fresh, other, base}) == 3
    assert residency.slots == 1 and store.fetches == 3


async def test_a_pinned_adapter_waits_for_its_rows(
    residency: AdapterResidency,
    store: CountingStore,
    adapter_dirs: list[Path],
    batcher: ContinuousBatcher,
    prompt: list[int],
) -> None:
    residency.max_adapters = 1
    publish(store, adapter_dirs, "ann", "bob")
    expected = await serve(residency, batcher, "ann", prompt)

    ann = await residency.resolve("ann")
    stream = batcher.submit(prompt, SamplingParams(8), ann.choice.adapter_name)
    bob = await residency.resolve("bob")  # over the bound: ann's slot is pinned by its row
    assert residency.resident() == [("ann", 1), ("bob", 1)] and residency.slots == 2
    assert (await stream.result()).text == expected
    ann.release()
    await residency.wait_idle()
    assert residency.resident() == [("bob", 1)]
    assert slot_names(batcher) == {bob.choice.adapter_name}
    bob.release()


async def test_concurrent_resolves_load_once(
    residency: AdapterResidency, store: CountingStore, adapter_dirs: list[Path]
) -> None:
    publish(store, adapter_dirs, "ann")
    leases = await asyncio.gather(*(residency.resolve("ann") for _ in range(8)))
    assert store.fetches == 1 and residency.slots == 1
    assert len({lease.choice.adapter_name for lease in leases}) == 1
    for lease in leases:
        lease.release()


async def test_broken_adapters_fall_back_to_the_base_model(
    residency: AdapterResidency,
    store: CountingStore,
    adapter_dirs: list[Path],
    batcher: ContinuousBatcher,
    prompt: list[int],
    tmp_path: Path,
) -> None:
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    config = (adapter_dirs[0] / "adapter_config.json").read_bytes()
    (garbage / "adapter_config.json").write_bytes(config)
    (garbage / ADAPTER_WEIGHTS).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not a tensor")
    store.publish("ann", garbage)  # the store takes it: its checksums are right
    store.publish("bob", adapter_dirs[1])
    (store.root / version_path("bob", 1) / ADAPTER_WEIGHTS).write_bytes(b"tampered")

    cases = {"ann": "PEFT could not load", "bob": "checksum", "cy": "no adapter"}
    for student, reason in cases.items():
        async with residency.use(student) as choice:
            assert choice.adapter_name is None
            assert choice.fallback_reason is not None and reason in choice.fallback_reason
    assert residency.resident() == [] and slot_names(batcher) == set()

    base = await batcher.submit(prompt, SamplingParams(8)).result()
    assert await serve(residency, batcher, "ann", prompt) == base.text


async def test_a_student_deleted_and_created_again_never_meets_the_old_weights(
    residency: AdapterResidency,
    store: CountingStore,
    adapter_dirs: list[Path],
    batcher: ContinuousBatcher,
    prompt: list[int],
) -> None:
    publish(store, adapter_dirs[1:], "bob")
    bobs = await serve(residency, batcher, "bob", prompt)
    publish(store, adapter_dirs, "ann")
    old = await serve(residency, batcher, "ann", prompt)
    assert old != bobs  # the two adapters answer differently: the comparison below can fail
    store.delete_student("ann")
    store.publish("ann", adapter_dirs[1])  # bob's weights, as ann's version 1 again
    live = store.live("ann")
    assert live is not None and live.version == 1

    again = await serve(residency, batcher, "ann", prompt)

    assert again == bobs
    await residency.wait_idle()
    assert sorted(residency.resident()) == [("ann", 1), ("bob", 1)]  # the old weights are gone
    assert store.fetches == 3


async def test_a_new_version_replaces_the_old(
    residency: AdapterResidency, store: CountingStore, adapter_dirs: list[Path]
) -> None:
    publish(store, adapter_dirs, "ann")
    old = await residency.resolve("ann")
    assert old.choice.version == 1
    store.publish("ann", adapter_dirs[1])
    new = await residency.resolve("ann")
    assert new.choice.version == 2 and new.choice.adapter_name != old.choice.adapter_name
    assert residency.resident() == [("ann", 1), ("ann", 2)]
    old.release()  # far under the bounds, but superseded: it goes as soon as it is free
    assert residency.resident() == [("ann", 2)]
    new.release()
    publish(store, adapter_dirs[2:], "bob")
    (await residency.resolve("bob")).release()
    assert residency.slots == 2  # bob took the slot v1 left free


async def test_a_deleted_students_weights_leave_the_model_unless_a_request_uses_them(
    residency: AdapterResidency,
    store: CountingStore,
    adapter_dirs: list[Path],
    batcher: ContinuousBatcher,
) -> None:
    publish(store, adapter_dirs, "ann", "bob")
    (await residency.resolve("ann")).release()
    in_use = await residency.resolve("bob")
    store.mark_deleted("ann")
    store.delete_student("ann")
    store.mark_deleted("bob")
    store.delete_student("bob")

    assert await residency.drop_deleted() == 1  # bob's request still runs on his adapter
    assert residency.resident() == [("bob", 1)] and len(slot_names(batcher)) == 1
    in_use.release()
    assert await residency.drop_deleted() == 1
    assert residency.resident() == [] and slot_names(batcher) == set()


async def test_loads_evictions_and_resident_adapters_are_counted(
    residency: AdapterResidency,
    store: CountingStore,
    adapter_dirs: list[Path],
    batcher: ContinuousBatcher,
) -> None:
    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"model": batcher.loaded.name, **labels}) or 0.0

    counted = [
        ("aivo_adapter_loads_total", {"outcome": "loaded"}),
        ("aivo_adapter_loads_total", {"outcome": "failed"}),
        ("aivo_adapter_load_seconds_count", {}),
        ("aivo_adapter_evictions_total", {}),
    ]
    before = [value(name, **labels) for name, labels in counted]
    residency.max_adapters = 1
    publish(store, adapter_dirs, "ann", "bob", "cy")
    (store.root / version_path("cy", 1) / ADAPTER_WEIGHTS).write_bytes(b"tampered")
    for student in ["ann", "bob", "cy"]:  # bob's adapter is swapped into ann's slot
        (await residency.resolve(student)).release()
    await residency.wait_idle()
    after = [value(name, **labels) for name, labels in counted]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 2, 1]
    assert value("aivo_adapters_resident") == len(residency.resident()) == 1
