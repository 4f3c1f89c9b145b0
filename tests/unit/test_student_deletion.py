"""Deletion's building blocks: tombstones that publishing checks, S3 versions all removed,
training-data errors that answer 503, the clone coordinator's per-student lock, and the sweep
of crashed replicas' adapter folders."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aivo.adapters import AdapterStore, LocalAdapterStore, S3AdapterStore, StudentDeleted
from aivo.adapters.layout import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from aivo.adapters.manifest import Manifest
from aivo.config import StorageConfig, parse_config
from aivo.engine.replica_folder import LOCK, ReplicaFolder, sweep_stale
from aivo.infra.s3 import S3Location
from aivo.observability import pseudonym
from aivo.training.dataset_store import DatasetStoreUnavailable, S3DatasetStore
from deployments.clone_coordinator import JOB_ID, CloneCoordinator
from support.datasets import student_dataset
from support.s3_server import S3Bucket

REPO = Path(__file__).resolve().parents[2]


def adapter_folder(tmp_path: Path, weights: bytes = b"weights") -> Path:
    folder = tmp_path / f"adapter-{hashlib.sha256(weights).hexdigest()[:8]}"
    folder.mkdir()
    (folder / ADAPTER_CONFIG).write_text(json.dumps({"r": 8}))
    (folder / ADAPTER_WEIGHTS).write_bytes(weights)
    return folder


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> AdapterStore:
    if request.param == "local":
        return LocalAdapterStore(tmp_path / "store")
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    return S3AdapterStore(bucket.client, S3Location(bucket.name, "adapters"))


def test_a_tombstone_records_when_and_names_the_student_by_pseudonym(
    store: AdapterStore, tmp_path: Path
) -> None:
    assert store.deleted_at("alice") is None
    before = time.time()
    deleted_at = store.mark_deleted("alice")
    assert store.deleted_at("alice") == deleted_at >= before
    assert store.deleted_since("alice", before) and not store.deleted_since("alice", time.time())
    if isinstance(store, LocalAdapterStore):
        (tombstone,) = (tmp_path / "store").rglob("*.json")
        assert tombstone.name == f"{pseudonym('alice')}.json"
        assert "alice" not in str(tombstone.relative_to(tmp_path))
    assert store.students() == []  # a tombstone is not a student


def test_a_publish_asked_for_before_the_deletion_is_refused_and_a_later_one_is_not(
    store: AdapterStore, tmp_path: Path
) -> None:
    asked = time.time()
    store.publish("alice", adapter_folder(tmp_path))
    store.mark_deleted("alice")
    store.delete_student("alice")

    with pytest.raises(StudentDeleted):
        store.publish("alice", adapter_folder(tmp_path, b"late"), requested_at=asked)
    assert store.live("alice") is None and store.students() == []
    assert store.publish("alice", adapter_folder(tmp_path, b"anew")) == 1  # asked for after


class DeletedDuringSwitch(LocalAdapterStore):
    """The local store, with the student's deletion starting just before the manifest switch:
    after the publish's first tombstone check, before the deletion lists the files."""

    def _save_manifest(self, student_id: str, manifest: Manifest, expected: str | None) -> None:
        self.mark_deleted(student_id)
        super()._save_manifest(student_id, manifest, expected)


def test_a_publish_that_switches_after_the_tombstone_undoes_itself(tmp_path: Path) -> None:
    store = DeletedDuringSwitch(tmp_path / "store")
    with pytest.raises(StudentDeleted):
        store.publish("alice", adapter_folder(tmp_path))
    assert store.live("alice") is None
    assert not (tmp_path / "store" / "students" / "alice").exists()


def versioned_bucket(bucket: S3Bucket) -> S3Bucket:
    bucket.client.put_bucket_versioning(
        Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"}
    )
    return bucket


def stored_versions(bucket: S3Bucket, prefix: str) -> list[str]:
    pages = bucket.client.get_paginator("list_object_versions").paginate(
        Bucket=bucket.name, Prefix=prefix
    )
    kinds = ("Versions", "DeleteMarkers")
    return [item["Key"] for page in pages for kind in kinds for item in page.get(kind, [])]


def test_deleting_from_a_versioned_bucket_removes_every_version(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    bucket = versioned_bucket(s3_bucket)
    adapters = S3AdapterStore(bucket.client, S3Location(bucket.name, "adapters"))
    for n in range(3):
        adapters.publish("alice", adapter_folder(tmp_path, f"weights {n}".encode()))
    adapters.rollback("alice", 1)
    storage = StorageConfig(
        dataset_root=f"s3://{bucket.name}/datasets", s3_endpoint_url=bucket.server.endpoint_url
    )
    datasets = S3DatasetStore(storage)
    datasets.save("alice", student_dataset(2))
    datasets.save("alice", student_dataset(3))
    assert len(stored_versions(bucket, "adapters/students/alice/manifest.json")) == 4

    assert adapters.delete_student("alice") == 10  # the manifest and 3 versions of 3 files
    assert datasets.delete_student("alice") == 2

    assert stored_versions(bucket, "adapters/students/") == []
    assert stored_versions(bucket, "datasets/students/") == []


def test_training_data_that_s3_cannot_reach_or_refuses_to_delete_answers_503(
    s3_bucket: S3Bucket,
) -> None:
    missing = StorageConfig(
        dataset_root="s3://no-such-bucket-here/datasets",
        s3_endpoint_url=s3_bucket.server.endpoint_url,
    )
    for action in (
        lambda: S3DatasetStore(missing).delete_student("alice"),
        lambda: S3DatasetStore(missing).save("alice", b"{}"),
    ):
        with pytest.raises(DatasetStoreUnavailable) as error:
            action()
        assert error.value.status == 503

    locked = f"locked-{s3_bucket.name}"[:63]
    s3_bucket.client.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    storage = StorageConfig(
        dataset_root=f"s3://{locked}/datasets", s3_endpoint_url=s3_bucket.server.endpoint_url
    )
    datasets = S3DatasetStore(storage)
    uri = datasets.save("alice", student_dataset(2))
    key = uri.split("/", 3)[3]
    s3_bucket.client.put_object_legal_hold(Bucket=locked, Key=key, LegalHold={"Status": "ON"})
    with pytest.raises(DatasetStoreUnavailable, match="refused"):
        datasets.delete_student("alice")  # never "removed 1" while the data is still there


def coordinator(tmp_path: Path) -> CloneCoordinator:
    config = parse_config(
        {
            "storage": {
                "adapter_root": str(tmp_path / "adapters"),
                "dataset_root": str(tmp_path / "datasets"),
            },
            # nothing listens here: these tests never reach the job API
            "clone": {"dashboard_address": "http://127.0.0.1:9"},
        }
    )
    return CloneCoordinator(config)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_clone_request_that_waited_on_a_deletion_is_refused(
    tmp_path: Path, anyio_backend: str
) -> None:
    clones = coordinator(tmp_path)
    async with clones._lock("alice"):  # the deletion holds the student's lock
        request = asyncio.create_task(clones.clone("alice", student_dataset(2)))
        await asyncio.sleep(0.05)
        assert not request.done()  # the request waits for the deletion to end
        clones.store.mark_deleted("alice")
    with pytest.raises(StudentDeleted):
        await request
    assert not (tmp_path / "datasets").exists()  # nothing of the request was stored


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_only_an_exact_clone_job_id_is_looked_up(tmp_path: Path, anyio_backend: str) -> None:
    from aivo.errors import NotFound

    assert JOB_ID.fullmatch("aivo-clone-0123456789ab")
    for other in ("aivo-clone-0123456789ab-x", "aivo-clone-", "aivo-clone-../../jobs"):
        with pytest.raises(NotFound):
            await coordinator(tmp_path).job(other, "school-a")


HOLDER = """
import sys, time
from pathlib import Path
from aivo.engine.replica_folder import ReplicaFolder
folder = ReplicaFolder(Path(sys.argv[1]))
print(folder.path, flush=True)
time.sleep(120)
"""


def test_a_starting_replica_sweeps_the_folders_of_crashed_replicas(tmp_path: Path) -> None:
    root = tmp_path / "adapters"
    crashed = root / "replica-4000000"  # its process is gone: nobody holds its lock
    (crashed / "0" / ".fetch-x").mkdir(parents=True)
    (crashed / LOCK).touch()
    mine = ReplicaFolder(root)
    assert mine.swept == 1 and not crashed.exists() and mine.path.is_dir()

    live = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert live.stdout is not None
        live_folder = Path(live.stdout.readline().strip())
        assert sweep_stale(root, keep=mine.path) == 0 and live_folder.is_dir()  # alive: kept
    finally:
        live.kill()
        live.wait()
    assert sweep_stale(root, keep=mine.path) == 1 and not live_folder.exists()
