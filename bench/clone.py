"""Cloning a student, end to end through the real job, and loading the adapter it publishes.

    python -m bench.clone [--examples 64] [--steps 20] [--loads 10]

A moto S3 server (started here) holds the dataset and the adapter store; a local Ray head with
its dashboard (the clone job test's `ray_head`) runs jobs/clone_student.py submitted through
JobSubmissionClient, as the CloneCoordinator submits it. Figures: the job's wall time split into
job start (everything outside the cloner's own phases: runtime env, driver, actor start, job
end), data loading, model load, training, evaluation and publish; training steps/s; then the
adapter's cold load (S3 fetch + PEFT load into the serving PeftModel) against a warm hit (its
name already resident in the PeftModel), as p50s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import torch
from botocore.config import Config

from aivo.adapters import open_store
from aivo.config import StorageConfig, load_serve_config
from aivo.engine.loader import load_model
from aivo.engine.lora import wrap_for_adapters
from aivo.training.results import parse_clone_results
from bench.loadgen import write_result
from support.datasets import student_dataset
from support.ports import free_port
from support.ray_cluster import ray_head
from support.s3_server import S3_CLUSTER_ENV, S3_TEST_ENV

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "serve.yaml"
HOST = "127.0.0.1"
STUDENT = "bench-student"
BUCKET = "aivo-bench"


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port; yields its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **S3_TEST_ENV},
    )
    endpoint = f"http://{HOST}:{port}"
    try:
        client = s3_client(endpoint)
        for _ in range(300):
            try:
                client.list_buckets()
                break
            except Exception:
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def s3_client(endpoint: str) -> Any:
    config = Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required")
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def run_job(address: str, endpoint: str, steps: int) -> tuple[float, dict[str, Any]]:
    """Submit the clone job and wait for it; (wall seconds, the student's summary)."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(address)
    arguments = [
        "--config configs/serve.yaml",
        f"--student-id {STUDENT}",
        f"--dataset s3://{BUCKET}/datasets/{STUDENT}.jsonl",
        f"--adapter-root s3://{BUCKET}/adapters",
        f"--s3-endpoint-url {endpoint}",
        f"--steps {steps}",
    ]
    started = time.perf_counter()
    job_id = client.submit_job(
        entrypoint="python jobs/clone_student.py " + " ".join(arguments),
        runtime_env={
            "working_dir": str(REPO),
            "excludes": [".venv", ".git", "var", "bench/results", ".*_cache", ".hypothesis"],
        },
    )
    while (status := client.get_job_status(job_id)) not in {
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.STOPPED,
    }:
        time.sleep(0.2)
    wall = time.perf_counter() - started
    logs = client.get_job_logs(job_id)
    if status != JobStatus.SUCCEEDED:
        raise SystemExit(f"clone job {status}:\n{logs[-4000:]}")
    (summary,) = parse_clone_results(logs)
    return wall, summary


def clone_figures(wall: float, summary: dict[str, Any]) -> dict[str, Any]:
    phases = summary["durations_s"]
    in_actor = sum(phases.values())
    metrics = summary["metrics"]
    return {
        "status": summary["status"],
        "wall_s": round(wall, 2),
        "job_start_s": round(wall - in_actor, 2),
        "data_loading_s": round(phases["load_data"] + phases["tokenize"], 3),
        "model_load_s": phases["load_model"],
        "training_s": phases["train"],
        "evaluation_s": round(phases["evaluate_before"] + phases["evaluate_after"], 3),
        "publish_s": phases.get("publish"),
        "steps": metrics["steps"],
        "training_steps_per_s": metrics["steps_per_s"],
        "examples_seen": metrics["examples_seen"],
        "eval_loss_before": round(metrics["eval_loss_before"], 4),
        "eval_loss_after": round(metrics["eval_loss_after"], 4),
        "perplexity_before": round(metrics["perplexity_before"], 2),
        "perplexity_after": round(metrics["perplexity_after"], 2),
    }


def adapter_loads(endpoint: str, loads: int) -> dict[str, Any]:
    """Cold: fetch the live version from S3 and load it into the serving PeftModel. Warm: the
    name is already resident, so resolving it is a lookup in the model's adapter table."""
    engine = load_serve_config(CONFIG).engine
    model = wrap_for_adapters(load_model(engine.models[0], engine)).model
    store = open_store(
        StorageConfig(adapter_root=f"s3://{BUCKET}/adapters", s3_endpoint_url=endpoint)
    )
    fetch_s, peft_s, cold_s, warm_s = [], [], [], []
    scratch = Path(tempfile.mkdtemp(prefix="aivo-bench-"))
    try:
        for i in range(loads):
            started = time.perf_counter()
            folder = store.fetch(STUDENT, scratch / f"v{i}").path
            fetched = time.perf_counter()
            model.load_adapter(str(folder), adapter_name=f"s{i}", autocast_adapter_dtype=False)
            done = time.perf_counter()
            fetch_s.append(fetched - started)
            peft_s.append(done - fetched)
            cold_s.append(done - started)
        for _ in range(1000):
            started = time.perf_counter()
            model.peft_config["s0"]  # KeyError if it were not resident
            warm_s.append(time.perf_counter() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "loads": loads,
        "cold_p50_ms": round(statistics.median(cold_s) * 1000, 2),
        "cold_s3_fetch_p50_ms": round(statistics.median(fetch_s) * 1000, 2),
        "cold_peft_load_p50_ms": round(statistics.median(peft_s) * 1000, 2),
        "warm_hit_p50_us": round(statistics.median(warm_s) * 1e6, 3),
        "model_dtype": str(next(model.parameters()).dtype),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()
    os.environ.update(S3_TEST_ENV)
    with moto_server() as endpoint:
        client = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(
            Bucket=BUCKET, Key=f"datasets/{STUDENT}.jsonl", Body=student_dataset(args.examples)
        )
        with ray_head(env=S3_CLUSTER_ENV) as address:
            wall, summary = run_job(address, endpoint, args.steps)
        loads = adapter_loads(endpoint, args.loads)
    write_result(
        "clone",
        {
            "examples": args.examples,
            "cpus": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "settings": "TrainingConfig defaults, fp32, 1 CPU per student; steps as given",
            "clone": clone_figures(wall, summary),
            "adapter_load": loads,
        },
    )


if __name__ == "__main__":
    main()
