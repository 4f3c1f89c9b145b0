"""Cloning over HTTP: a clone request becomes a real Ray job that trains and publishes the
student's adapter, which the replicas then serve; deleting the student removes it all."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from ray import serve

from aivo.config import parse_config
from deployments.builder import build_app
from support.datasets import PROFILE, student_examples
from support.keys import ApiKeys
from support.serving import CLONING_DEPLOYMENTS, wait_ready

pytestmark = pytest.mark.slow
STUDENT = "stu-http-1"
QUESTION = {"prompt": "What is 7 + 5?", "grade_level": "3", "subject": "math", "max_tokens": 24}


@pytest.fixture(scope="module")
def client(serve_port: int, api_keys: ApiKeys, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("clone")
    config = parse_config(
        {
            "storage": {"adapter_root": str(root / "adapters"), "dataset_root": str(root / "data")},
            "security": {"api_keys_file": str(api_keys.file)},
            "training": {"steps": 6, "batch_size": 2, "learning_rate": 0.003},
            "deployments": CLONING_DEPLOYMENTS,
        }
    )
    serve.run(build_app(config), name="clone", route_prefix="/clone")
    with httpx.Client(
        base_url=f"http://127.0.0.1:{serve_port}/clone",
        timeout=120,
        headers=api_keys.header(api_keys.admin),
    ) as c:
        assert wait_ready(c).status_code == 200
        yield c, root
    serve.delete("clone")


def examples(count: int) -> list[dict]:
    return [{"profile": PROFILE}] + [
        {"prompt": q, "response": a} for q, a in student_examples(count, seed=1)
    ]


def test_a_clone_request_trains_publishes_and_is_served(client) -> None:  # type: ignore[no-untyped-def]
    c, root = client
    base = c.post("/v1/generate", json={**QUESTION, "student_id": STUDENT}).json()
    assert base["adapter"] is None

    first = c.post(f"/v1/students/{STUDENT}/clone", json={"examples": examples(16)})
    assert first.status_code == 202, first.text
    job_id = first.json()["job_id"]
    again = c.post(f"/v1/students/{STUDENT}/clone", json={"examples": examples(16)})
    assert again.status_code == 202 and again.json()["job_id"] == job_id  # one job per student

    deadline = time.monotonic() + 600
    while (report := c.get(f"/v1/jobs/{job_id}").json())["status"] not in (
        "SUCCEEDED",
        "FAILED",
        "STOPPED",
    ):
        assert time.monotonic() < deadline, report
        time.sleep(2)
    assert report["status"] == "SUCCEEDED", report
    (result,) = report["results"]
    assert result["student_id"] == STUDENT and result["status"] == "published", result
    assert result["metrics"]["eval_loss_after"] < result["metrics"]["eval_loss_before"]

    adapter = c.get(f"/v1/students/{STUDENT}/adapter").json()
    assert adapter["live_version"] == result["version"]
    assert adapter["metadata"]["metrics"] == result["metrics"]

    served = c.post("/v1/generate", json={**QUESTION, "student_id": STUDENT}).json()
    assert served["adapter"] == {"student_id": STUDENT, "version": result["version"]}
    assert served["cached"] is False and served["text"] != base["text"]

    removed = c.delete(f"/v1/students/{STUDENT}").json()["removed"]
    assert removed["adapter_files"] >= 3 and removed["training_datasets"] == 1
    assert removed["job_records"] == 1
    assert c.get(f"/v1/students/{STUDENT}/adapter").status_code == 404
    assert c.get(f"/v1/jobs/{job_id}").status_code == 404
    assert not list(Path(root / "data").rglob("*.jsonl"))


def test_a_bad_example_is_refused_before_any_job(client) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    bad = [*examples(4), {"prompt": "no answer"}]
    r = c.post("/v1/students/stu-bad/clone", json={"examples": bad})
    assert r.status_code == 422, r.text
    assert (
        r.json()["error"]["code"] == "invalid_dataset" and "line 6" in r.json()["error"]["message"]
    )


def test_cloning_needs_the_students_write_scope(client, api_keys: ApiKeys) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    r = c.post(
        "/v1/students/stu-x/clone",
        json={"examples": examples(2)},
        headers=api_keys.header(api_keys.app),
    )
    assert r.status_code == 403
