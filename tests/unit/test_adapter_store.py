"""The adapter store's behaviour, one suite for every backend.

`AdapterStoreContract` holds the tests; a backend's test class inherits it and provides two
fixtures: `store` (an empty store) and `stored` (direct access to what the backend wrote, to
corrupt or inspect it). The local folder runs here; S3 runs in
tests/integration/test_adapter_store_s3.py against a real moto server.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM

from aivo.adapters import (
    AdapterCorrupt,
    AdapterNotFound,
    AdapterStore,
    InvalidAdapter,
    LocalAdapterStore,
    open_store,
)
from aivo.config import StorageConfig
from aivo.errors import InvalidRequest

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
BAD_STUDENT_IDS = [
    "",
    "..",
    "../s1",
    "s1/../s2",
    "a/b",
    "-s1",
    "_s1",
    "s1\n",
    "s1 ",
    "s" * 65,
    "élève",
    "s1%2F..",
    ".s1",
    "s1.",
    "t.s1.s2",
    "T.s1",  # tenants are lowercase
]


def tiny_base_model() -> LlamaForCausalLM:
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=64,
    )
    return LlamaForCausalLM(config)


@pytest.fixture(scope="session")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two real PEFT LoRA adapter folders with different random weights."""
    folders = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        folder = tmp_path_factory.mktemp(f"adapter-{seed}")
        get_peft_model(tiny_base_model(), lora).save_pretrained(str(folder))
        folders.append(folder)
    return folders


class StoredFiles(Protocol):
    """What a backend wrote, reached without the store."""

    def overwrite(self, student_id: str, relative: str, data: bytes) -> None: ...

    def read(self, student_id: str, relative: str) -> bytes: ...

    def names(self) -> list[str]: ...


def same_files(left: Path, right: Path) -> bool:
    return all((left / n).read_bytes() == (right / n).read_bytes() for n in (CONFIG, WEIGHTS))


class AdapterStoreContract:
    def test_publish_then_fetch_gives_identical_bytes(
        self, store: AdapterStore, adapters: list[Path], tmp_path: Path
    ) -> None:
        assert store.publish("s1", adapters[0], {"eval_loss": 1.25}) == 1
        fetched = store.fetch("s1", tmp_path / "out")
        assert (fetched.adapter.version, fetched.path) == (1, tmp_path / "out")
        assert fetched.metadata == {"eval_loss": 1.25}
        assert same_files(fetched.path, adapters[0])
        assert sorted(p.name for p in fetched.path.iterdir()) == [CONFIG, WEIGHTS, "metadata.json"]

    def test_fetched_adapter_loads_with_peft(
        self, store: AdapterStore, adapters: list[Path], tmp_path: Path
    ) -> None:
        store.publish("s1", adapters[0])
        fetched = store.fetch("s1", tmp_path / "out")
        model = PeftModel.from_pretrained(tiny_base_model(), str(fetched.path))
        loaded = get_peft_model_state_dict(model)
        for name, tensor in load_file(adapters[0] / WEIGHTS).items():
            assert torch.equal(loaded[name], tensor)

    def test_live_version_and_manifest_follow_publishes(
        self, store: AdapterStore, adapters: list[Path], tmp_path: Path
    ) -> None:
        assert store.live_version("s1") is None
        assert store.manifest("s1") is None
        assert store.versions("s1") == []
        assert store.publish("s1", adapters[0]) == 1
        assert store.publish("s1", adapters[1]) == 2
        assert store.live_version("s1") == 2
        assert store.versions("s1") == [1, 2]
        manifest = store.manifest("s1")
        assert manifest is not None
        weights = (adapters[1] / WEIGHTS).read_bytes()
        assert manifest.live.files[WEIGHTS].sha256 == hashlib.sha256(weights).hexdigest()
        assert manifest.live.files[WEIGHTS].size == len(weights)
        assert same_files(store.fetch("s1", tmp_path / "v1", version=1).path, adapters[0])
        assert same_files(store.fetch("s1", tmp_path / "v2").path, adapters[1])

    def test_checksum_mismatch_names_the_file(
        self, store: AdapterStore, stored: StoredFiles, adapters: list[Path], tmp_path: Path
    ) -> None:
        store.publish("s1", adapters[0])
        weights = bytearray(stored.read("s1", f"v1/{WEIGHTS}"))
        weights[len(weights) // 2] ^= 0xFF  # same size, one byte differs
        stored.overwrite("s1", f"v1/{WEIGHTS}", bytes(weights))
        with pytest.raises(AdapterCorrupt) as caught:
            store.fetch("s1", tmp_path / "out")
        assert caught.value.file_name == WEIGHTS
        assert WEIGHTS in str(caught.value)
        assert list(tmp_path.iterdir()) == []  # no partial folder is left behind

    def test_unreadable_manifest_is_reported_as_corrupt(
        self, store: AdapterStore, stored: StoredFiles, adapters: list[Path]
    ) -> None:
        store.publish("s1", adapters[0])
        stored.overwrite("s1", "manifest.json", b'{"live_version": ')
        with pytest.raises(AdapterCorrupt) as caught:
            store.live_version("s1")
        assert caught.value.file_name == "manifest.json"

    def test_concurrent_publishes_get_distinct_versions(
        self, store: AdapterStore, adapters: list[Path], tmp_path: Path
    ) -> None:
        writers = 6
        start = threading.Barrier(writers)

        def publish(writer: int) -> int:
            start.wait()
            return store.publish("s1", adapters[writer % 2], {"writer": writer})

        with ThreadPoolExecutor(writers) as pool:
            published = list(pool.map(publish, range(writers)))
        assert len(set(published)) == writers  # distinct; a writer that lost a race skips numbers
        manifest = store.manifest("s1")
        assert manifest is not None
        assert manifest.version_numbers == sorted(published)
        assert manifest.live_version == max(published)
        for writer, version in enumerate(published):
            fetched = store.fetch("s1", tmp_path / f"v{version}", version=version)
            assert fetched.metadata == {"writer": writer}
            assert same_files(fetched.path, adapters[writer % 2])

    def test_rollback_switches_the_live_version_only(
        self, store: AdapterStore, adapters: list[Path], tmp_path: Path
    ) -> None:
        store.publish("s1", adapters[0])
        store.publish("s1", adapters[1])
        store.rollback("s1", 1)
        assert store.live_version("s1") == 1
        assert store.versions("s1") == [1, 2]
        assert same_files(store.fetch("s1", tmp_path / "live").path, adapters[0])
        assert store.publish("s1", adapters[1]) == 3
        with pytest.raises(AdapterNotFound):
            store.rollback("s1", 7)
        with pytest.raises(AdapterNotFound):
            store.rollback("nobody", 1)

    def test_delete_removes_everything_about_the_student(
        self, store: AdapterStore, stored: StoredFiles, adapters: list[Path], tmp_path: Path
    ) -> None:
        store.publish("s1", adapters[0])
        store.publish("s1", adapters[1])
        store.publish("s10", adapters[0])  # shares a prefix with s1: must survive
        assert store.delete_student("s1") == 7  # 2 versions x 3 files, and the manifest
        assert store.live_version("s1") is None
        assert store.manifest("s1") is None
        assert store.versions("s1") == []
        with pytest.raises(AdapterNotFound):
            store.fetch("s1", tmp_path / "gone")
        with pytest.raises(AdapterNotFound):
            store.fetch("s1", tmp_path / "gone", version=1)
        assert not [name for name in stored.names() if "/s1/" in f"/{name}"]
        assert store.delete_student("s1") == 0
        assert store.live_version("s10") == 1
        assert same_files(store.fetch("s10", tmp_path / "kept").path, adapters[0])
        assert store.publish("s1", adapters[1]) == 1

    def test_students_lists_every_student_once_and_forgets_a_deleted_one(
        self, store: AdapterStore, stored: StoredFiles, adapters: list[Path]
    ) -> None:
        assert store.students() == []
        store.publish("s2", adapters[0])
        store.publish("s1", adapters[0])
        store.publish("s1", adapters[1])
        store.publish("s10", adapters[0])
        stored.overwrite("not..an id", "v1/x", b"")  # a stray folder is not a student
        assert store.students() == ["s1", "s10", "s2"]
        store.delete_student("s10")
        assert store.students() == ["s1", "s2"]

    def test_a_tenants_students_are_listed_by_their_prefix(
        self, store: AdapterStore, adapters: list[Path]
    ) -> None:
        for student in ("school.amy", "school.bo", "schools.cy", "district.amy", "amy"):
            store.publish(student, adapters[0])
        assert store.students("school.") == ["school.amy", "school.bo"]
        assert store.students("district.") == ["district.amy"]
        assert store.manifest("district.amy").student_id == "district.amy"  # type: ignore[union-attr]

    @pytest.mark.parametrize("student_id", BAD_STUDENT_IDS)
    def test_invalid_student_ids_are_refused(
        self,
        store: AdapterStore,
        stored: StoredFiles,
        adapters: list[Path],
        tmp_path: Path,
        student_id: str,
    ) -> None:
        calls = [
            lambda: store.publish(student_id, adapters[0]),
            lambda: store.live_version(student_id),
            lambda: store.manifest(student_id),
            lambda: store.versions(student_id),
            lambda: store.fetch(student_id, tmp_path / "out"),
            lambda: store.rollback(student_id, 1),
            lambda: store.delete_student(student_id),
        ]
        for call in calls:
            with pytest.raises(InvalidRequest):
                call()
        assert stored.names() == []

    def test_publish_refuses_what_is_not_an_adapter(
        self, store: AdapterStore, stored: StoredFiles, adapters: list[Path], tmp_path: Path
    ) -> None:
        with pytest.raises(InvalidAdapter):
            store.publish("s1", tmp_path)
        shutil.copy(adapters[0] / WEIGHTS, tmp_path / WEIGHTS)
        (tmp_path / CONFIG).write_text("not json")
        with pytest.raises(InvalidAdapter):
            store.publish("s1", tmp_path)
        with pytest.raises(InvalidAdapter):
            store.publish("s1", adapters[0], {"not json": object()})
        assert store.live_version("s1") is None
        assert stored.names() == []

    def test_unknown_student_or_version_is_not_found(
        self, store: AdapterStore, adapters: list[Path], tmp_path: Path
    ) -> None:
        with pytest.raises(AdapterNotFound):
            store.fetch("nobody", tmp_path / "out")
        store.publish("s1", adapters[0])
        with pytest.raises(AdapterNotFound):
            store.fetch("s1", tmp_path / "out", version=2)
        with pytest.raises(InvalidRequest):
            store.fetch("s1", tmp_path / "out", version=0)


class LocalFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def overwrite(self, student_id: str, relative: str, data: bytes) -> None:
        path = self.root / "students" / student_id / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def read(self, student_id: str, relative: str) -> bytes:
        return (self.root / "students" / student_id / relative).read_bytes()

    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if p.is_file() and p.name != ".publish.lock"
        )


class TestLocalAdapterStore(AdapterStoreContract):
    @pytest.fixture
    def store(self, tmp_path_factory: pytest.TempPathFactory) -> AdapterStore:
        root = tmp_path_factory.mktemp("store") / "adapters"
        store = open_store(StorageConfig(adapter_root=str(root)))
        assert isinstance(store, LocalAdapterStore)
        return store

    @pytest.fixture
    def stored(self, store: LocalAdapterStore) -> StoredFiles:
        return LocalFiles(store.root)
