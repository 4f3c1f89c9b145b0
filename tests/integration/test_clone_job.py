"""The clone job as the CloneCoordinator runs it: `ray job submit` of jobs/clone_student.py.

A real Ray head (`ray start --head --block`, free loopback ports, its own temp dir) whose own
environment holds the S3 credentials, as an instance role gives a real cluster's nodes: jobs
carry none. Datasets and the adapter store live on a real S3 endpoint (moto server).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import PeftModel

from aivo.adapters import open_store
from aivo.config import EngineConfig, StorageConfig
from aivo.curriculum.prompting import neutralise
from aivo.engine.loader import LoadedModel, load_model
from aivo.observability import pseudonym
from aivo.training.cloner import training_spec
from aivo.training.dataset import StudentProfile, system_message
from aivo.training.results import parse_clone_results
from support.datasets import PROFILE, student_dataset
from support.ray_cluster import ray_head
from support.s3_server import (  # noqa: F401
    S3_CLUSTER_ENV,
    S3Bucket,
    S3Server,
    s3_bucket,
    s3_server,
)
from tests.fixtures.adapters import make_adapter

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
JOB_TIMEOUT_S = 900.0
EXCLUDES = [".venv", ".git", "var", "bench/results", ".*_cache", ".hypothesis"]


@pytest.fixture(scope="module")
def ray_dashboard(s3_server: S3Server) -> Iterator[str]:  # noqa: F811
    with ray_head(env=S3_CLUSTER_ENV) as address:
        yield address


def submit(
    address: str, arguments: list[str], env: dict[str, str] | None = None
) -> tuple[str, str]:
    """Run the clone job to its end; (final status, logs)."""
    return wait_for_job(address, start_job(address, arguments, env))


def start_job(address: str, arguments: list[str], env: dict[str, str] | None = None) -> str:
    """Submit the job as ML ops would by hand; `env`: settings, never secrets."""
    from ray.job_submission import JobSubmissionClient

    command = ["python", "jobs/clone_student.py", "--config", "configs/serve.yaml", *arguments]
    return JobSubmissionClient(address).submit_job(
        entrypoint=" ".join(command),
        runtime_env={"working_dir": str(REPO), "excludes": EXCLUDES, "env_vars": env or {}},
    )


def wait_for_job(address: str, job_id: str) -> tuple[str, str]:
    """(final status, logs) of a submitted job."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(address)
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while (status := client.get_job_status(job_id)) not in {
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.STOPPED,
    }:
        if time.monotonic() > deadline:
            client.stop_job(job_id)
            pytest.fail(f"clone job still {status} after {JOB_TIMEOUT_S} s")
        time.sleep(1)
    return str(status), settled_logs(client, job_id)


def settled_logs(client: Any, job_id: str, quiet_s: float = 2.0, bound_s: float = 30.0) -> str:
    """A finished job's logs once they stop growing: the last lines can reach the job's log
    file after its status has turned final."""
    logs = client.get_job_logs(job_id)
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        if (later := client.get_job_logs(job_id)) == logs:
            break
        logs = later
    return str(logs)


def greedy_answer(model: Any, loaded: LoadedModel, question: str) -> str:
    messages = [
        {"role": "system", "content": system_message(StudentProfile(**PROFILE))},
        {"role": "user", "content": neutralise(question)},
    ]
    ids = torch.tensor([loaded.chat_prompt_ids(messages)])
    with torch.no_grad():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=40, do_sample=False
        )
    return str(loaded.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))


def test_a_submitted_job_clones_two_students_in_parallel_onto_s3(
    ray_dashboard: str,
    s3_bucket: S3Bucket,  # noqa: F811
    engine_config: EngineConfig,
    tmp_path: Path,
) -> None:
    students = {
        "stu-int-1": student_dataset(16, seed=1),
        "stu-int-2": student_dataset(16, seed=2, chat=True),
    }
    arguments = []
    for student_id, data in students.items():
        key = f"datasets/{student_id}.jsonl"
        s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=data)
        arguments += ["--student-id", student_id, "--dataset", f"s3://{s3_bucket.name}/{key}"]
    root = f"s3://{s3_bucket.name}/adapters"
    endpoint = s3_bucket.server.endpoint_url
    arguments += ["--adapter-root", root, "--s3-endpoint-url", endpoint]
    arguments += ["--steps", "4", "--batch-size", "2", "--learning-rate", "0.003"]

    status, logs = submit(ray_dashboard, arguments)

    assert status == "SUCCEEDED", logs[-3000:]
    by_pseudonym = {pseudonym(student_id): student_id for student_id in students}
    summaries = {by_pseudonym[s["student"]]: s for s in parse_clone_results(logs)}
    assert set(summaries) == set(students)
    store = open_store(StorageConfig(adapter_root=root, s3_endpoint_url=endpoint))
    for student_id, summary in summaries.items():
        assert summary["status"] == "published", summary
        assert store.live_version(student_id) == summary["version"] == 1
        assert "step 4/4 loss" in logs
        assert f'"student":"{pseudonym(student_id)}"' in logs  # progress names a pseudonym
    fetched = store.fetch("stu-int-1", tmp_path / "adapter")
    metrics = fetched.metadata["metrics"]
    assert metrics == summaries["stu-int-1"]["metrics"]
    assert metrics["steps"] == 4 and metrics["examples"] == 16
    assert metrics["eval_loss_after"] < metrics["eval_loss_before"]

    base = load_model(training_spec(engine_config.models[0]), engine_config)
    question = "What is 8 + 6?"
    before = greedy_answer(base.model, base, question)
    tuned = PeftModel.from_pretrained(base.model, str(fetched.path))
    after = greedy_answer(tuned, base, question)
    assert after != before, (before, after)


def test_a_bad_dataset_line_fails_the_job_with_its_line_number(
    ray_dashboard: str,
    s3_bucket: S3Bucket,  # noqa: F811
) -> None:
    lines = student_dataset(8).splitlines()
    lines[4] = b'{"prompt": "What is 3 + 4?", "answer": "7"}'
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key="bad.jsonl", Body=b"\n".join(lines))
    arguments = [
        "--student-id",
        # an operator's `ray job submit` names the student on the command line, which Ray keeps
        # in the job's record and log: an id no other test sends (the leak scan knows those)
        "stu-bad-line",
        "--dataset",
        f"s3://{s3_bucket.name}/bad.jsonl",
        "--adapter-root",
        f"s3://{s3_bucket.name}/adapters",
    ]
    # no --s3-endpoint-url: boto3 takes the endpoint from the job's environment instead
    endpoint = {"AWS_ENDPOINT_URL_S3": s3_bucket.server.endpoint_url}

    status, logs = submit(ray_dashboard, arguments, endpoint)

    assert status == "FAILED", logs[-3000:]
    (summary,) = parse_clone_results(logs)
    assert summary["status"] == "failed" and summary["error_code"] == "invalid_dataset"
    assert summary["reason"].startswith("line 5: ")
    assert "clone_student: 1 of 1 clones failed: invalid_dataset: line 5: " in logs
    assert "Traceback" not in logs


def test_an_s3_outage_during_a_clone_never_leaves_a_half_written_adapter(
    ray_dashboard: str,
    s3_bucket: S3Bucket,  # noqa: F811
    bundled_model: LoadedModel,
    tmp_path: Path,
) -> None:
    """The S3 endpoint stops (SIGSTOP: it holds connections and answers nothing) from the first
    training step until the job's publish has been waiting on it for a while, then continues.
    The job retries and publishes, or fails in one line; either way the live version is whole
    and the one before it was never touched."""
    from ray.job_submission import JobSubmissionClient

    root = f"s3://{s3_bucket.name}/adapters"
    endpoint = s3_bucket.server.endpoint_url
    store = open_store(StorageConfig(adapter_root=root, s3_endpoint_url=endpoint))
    student = "stu-outage"
    store.publish(student, make_adapter(bundled_model.model, tmp_path / "v1", seed=3))
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key="o.jsonl", Body=student_dataset(16))
    arguments = ["--student-id", student, "--dataset", f"s3://{s3_bucket.name}/o.jsonl"]
    arguments += ["--adapter-root", root, "--s3-endpoint-url", endpoint, "--steps", "4"]
    arguments += ["--batch-size", "2", "--learning-rate", "0.003"]
    port = int(endpoint.rsplit(":", 1)[1])

    job_id = start_job(ray_dashboard, arguments)
    client = JobSubmissionClient(ray_dashboard)
    wait_until(lambda: "step 1/4" in client.get_job_logs(job_id), "training starts")
    os.kill(s3_bucket.server.pid, signal.SIGSTOP)
    try:  # the publish's first request reaches the stopped server and waits in its socket
        wait_until(lambda: unread_bytes(port) > 0, "the job's publish meets the outage", 300)
        time.sleep(OUTAGE_HOLD_S)
    finally:
        os.kill(s3_bucket.server.pid, signal.SIGCONT)
    status, logs = wait_for_job(ray_dashboard, job_id)

    (summary,) = parse_clone_results(logs)
    assert "Traceback" not in logs
    if summary["status"] == "published":  # the client waited and retried through the outage
        assert status == "SUCCEEDED" and summary["version"] == 2, (status, summary)
        assert summary["durations_s"]["publish"] >= OUTAGE_HOLD_S
    else:  # a clear one-line failure, and nothing new is live
        assert status == "FAILED" and summary["status"] == "failed", (status, summary)
        assert summary["error_code"] and summary["reason"], summary
    live = store.live_version(student)
    assert live == (2 if summary["status"] == "published" else 1)
    fetched = store.fetch(student, tmp_path / "live")  # checks every file's sha256
    assert fetched.adapter.version == live
    assert (fetched.path / "adapter_model.safetensors").is_file()


OUTAGE_HOLD_S = 5.0


def wait_until(condition: Any, what: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.2)


def unread_bytes(port: int) -> int:
    """Bytes that arrived on loopback connections to `port` and that no one has read yet (the
    receive queues of the server's sockets, from /proc/net/tcp)."""
    total = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        rx_queue = int(fields[4].split(":")[1], 16)
        if local_port == port:
            total += rx_queue
    return total
