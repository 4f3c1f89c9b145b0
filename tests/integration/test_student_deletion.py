"""Deleting a student while their clone job runs, on a real Ray head (its environment holds the
S3 credentials; jobs carry none) with the adapter store and training data in a versioned bucket
of a real S3 endpoint (moto server). The service's own deletion (`erase_student`) drives the
real CloneCoordinator, S3 stores and cache.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ray.job_submission import JobStatus, JobSubmissionClient

from aivo.adapters import StudentDeleted, open_store
from aivo.adapters.layout import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from aivo.cache import InProcessCache
from aivo.cache.keys import student_prefix
from aivo.config import AppConfig, parse_config
from aivo.observability import pseudonym
from aivo.service.deletion import DeletionIncomplete, erase_student
from aivo.training.results import parse_clone_results
from deployments.clone_coordinator import CloneCoordinator, TooManyCloneJobs
from support.datasets import student_dataset
from support.ray_cluster import ray_head
from support.s3_server import (  # noqa: F401
    S3_CLUSTER_ENV,
    S3Bucket,
    S3Server,
    s3_bucket,
    s3_server,
)

pytestmark = [pytest.mark.slow, pytest.mark.anyio]
REPO = Path(__file__).resolve().parents[2]
ENDED = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def ray_dashboard(s3_server: S3Server) -> Iterator[str]:  # noqa: F811
    with ray_head(env=S3_CLUSTER_ENV) as address:
        yield address


@pytest.fixture
def versioned(s3_bucket: S3Bucket) -> S3Bucket:  # noqa: F811
    s3_bucket.client.put_bucket_versioning(
        Bucket=s3_bucket.name, VersioningConfiguration={"Status": "Enabled"}
    )
    return s3_bucket


def app_config(bucket: S3Bucket, **clone: Any) -> AppConfig:
    return parse_config(
        {
            "storage": {
                "adapter_root": f"s3://{bucket.name}/adapters",
                "dataset_root": f"s3://{bucket.name}/datasets",
                "s3_endpoint_url": bucket.server.endpoint_url,
            },
            "training": {"steps": 400, "batch_size": 2},
            "clone": {"dashboard_address": None, **clone},
        }
    )


def publish_fake_versions(config: AppConfig, student: str, tmp_path: Path, count: int) -> None:
    """Earlier adapter versions (the store checks files, not weights), each a new S3 version
    of the manifest."""
    store = open_store(config.storage)
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / ADAPTER_CONFIG).write_text(json.dumps({"r": 8}))
    for n in range(count):
        (folder / ADAPTER_WEIGHTS).write_bytes(f"weights {n}".encode())
        store.publish(student, folder)


def object_versions(bucket: S3Bucket) -> list[str]:
    """Every key with a stored version or delete marker, anywhere in the bucket."""
    pages = bucket.client.get_paginator("list_object_versions").paginate(Bucket=bucket.name)
    return [
        item["Key"]
        for page in pages
        for kind in ("Versions", "DeleteMarkers")
        for item in page.get(kind, [])
    ]


async def until(condition: Any, what: str, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.5)


async def test_deleting_a_student_while_their_job_trains_stops_it_and_removes_every_version(
    ray_dashboard: str, versioned: S3Bucket, tmp_path: Path
) -> None:
    student = "stu-del-running"
    # a stop that takes longer than allowed: the first DELETE answers 503 with what is left
    config = app_config(versioned, stop_timeout_s=0.2, max_concurrent_jobs=1)
    client = JobSubmissionClient(ray_dashboard)
    coordinator = CloneCoordinator(config, client=client)
    publish_fake_versions(config, student, tmp_path, 2)
    cache = InProcessCache(config.cache)
    await cache.set(f"{student_prefix(student)}answer", {"text": "cached"})

    job = await coordinator.clone(student, student_dataset(12))
    record = client.get_job_info(job.job_id)
    stored = json.dumps([record.entrypoint, record.runtime_env, record.metadata], default=str)
    for name, secret in S3_CLUSTER_ENV.items():
        if "KEY" in name or "TOKEN" in name:
            assert secret not in stored, name  # the job API shows this record to any caller
    assert student not in json.dumps(record.metadata)
    with pytest.raises(TooManyCloneJobs) as busy:  # one job at a time, in this deployment
        await coordinator.clone("stu-del-other", student_dataset(12))
    assert busy.value.status == 429 and busy.value.retry_after_s
    await until(lambda: "step 1/" in client.get_job_logs(job.job_id), "training starts")

    with pytest.raises(DeletionIncomplete) as first:
        await erase_student(student, adapters=coordinator.store, clones=coordinator, cache=cache)
    assert first.value.status == 503 and "clone jobs and training data" in first.value.message
    assert "adapter_files" in first.value.message  # what was removed so far is said too
    await until(lambda: client.get_job_status(job.job_id) in ENDED, "the job has stopped", 60)

    deletion = await erase_student(
        student, adapters=coordinator.store, clones=coordinator, cache=cache
    )

    assert deletion.removed["job_records"] == 1 and deletion.removed["training_datasets"] == 1
    with pytest.raises(RuntimeError):  # the job API knows the job no more
        client.get_job_status(job.job_id)
    left = [k for k in object_versions(versioned) if "/students/" in k]
    assert left == []  # no adapter or dataset, in any S3 version, nor a delete marker
    assert await cache.get(f"{student_prefix(student)}answer") is None
    assert coordinator.store.live(student) is None


async def test_a_clone_job_that_races_the_deletion_does_not_bring_the_student_back(
    ray_dashboard: str, versioned: S3Bucket, tmp_path: Path
) -> None:
    """A job the coordinator does not know (started by hand) trains through the deletion: its
    publish meets the tombstone and is refused, and nothing of the student reappears."""
    student = "stu-del-race"
    config = app_config(versioned)
    client = JobSubmissionClient(ray_dashboard)
    coordinator = CloneCoordinator(config, client=client)
    key = "datasets/by-hand.jsonl"
    versioned.client.put_object(Bucket=versioned.name, Key=key, Body=student_dataset(8))
    arguments = ["--student-id", student, "--dataset", f"s3://{versioned.name}/{key}"]
    arguments += [
        "--adapter-root",
        config.storage.adapter_root,
        "--steps",
        "3",
        "--batch-size",
        "2",
    ]
    arguments += ["--s3-endpoint-url", versioned.server.endpoint_url, "--config"]
    job_id = client.submit_job(
        entrypoint=" ".join(["python", "jobs/clone_student.py", *arguments, "configs/serve.yaml"]),
        runtime_env={"working_dir": str(REPO), "excludes": [".venv", ".git", "var", ".*_cache"]},
    )
    await until(lambda: "step 1/" in client.get_job_logs(job_id), "training starts")

    deletion = await erase_student(
        student, adapters=coordinator.store, clones=coordinator, cache=InProcessCache(config.cache)
    )
    assert deletion.removed["job_records"] == 0  # not the coordinator's job: it runs on
    await until(lambda: client.get_job_status(job_id) in ENDED, "the racing job ends")

    (summary,) = parse_clone_results(client.get_job_logs(job_id))
    assert summary["status"] == "failed" and summary["error_code"] == StudentDeleted.code
    assert coordinator.store.live(student) is None
    assert not [k for k in object_versions(versioned) if k.startswith("adapters/students/")]
    tombstones = [k for k in object_versions(versioned) if "tombstones/" in k]
    assert tombstones == [f"adapters/tombstones/{pseudonym(student)}.json"]
