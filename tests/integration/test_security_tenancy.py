"""Tenancy over HTTP on the real graph, with two tenants' keys: a key reaches only its own
tenant's students, models, jobs and cached answers; another tenant's student answers exactly as
an id that does not exist."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ray import serve

from aivo.adapters import LocalAdapterStore
from aivo.config import parse_config
from aivo.tenancy import owned_id
from deployments.builder import build_app
from support.datasets import PROFILE, student_examples
from support.keys import OTHER_TENANT, TENANT, ApiKeys
from support.serving import CLONING_DEPLOYMENTS, wait_ready
from tests.fixtures.adapters import make_adapter

pytestmark = pytest.mark.slow
AMY = "ten-amy"  # a student of school-a
GHOST = "ten-ghost"  # nobody's student
QUESTION = {"prompt": "What is 7 + 5?", "grade_level": "3", "subject": "math", "max_tokens": 12}
FINISHED = ("SUCCEEDED", "FAILED", "STOPPED")
HELLO = [{"role": "user", "content": "hi"}]
TUTORING = {"grade_level": "3", "subject": "math"}
Graph = tuple[httpx.Client, httpx.Client, Path]


@pytest.fixture(scope="module")
def graph(
    serve_port: int, api_keys: ApiKeys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Graph]:
    """Clients of school-a (`a`) and school-b (`b`), both with every scope, and the store root."""
    root = tmp_path_factory.mktemp("tenancy")
    config = parse_config(
        {
            "storage": {"adapter_root": str(root / "adapters"), "dataset_root": str(root / "data")},
            "security": {"api_keys_file": str(api_keys.file), "metrics_require_key": True},
            "training": {"steps": 6, "batch_size": 2, "learning_rate": 0.003},
            "deployments": CLONING_DEPLOYMENTS,
        }
    )
    serve.run(build_app(config), name="tenancy", route_prefix="/tenancy")
    base = f"http://127.0.0.1:{serve_port}/tenancy"
    with (
        httpx.Client(base_url=base, timeout=120, headers=api_keys.header(api_keys.admin)) as a,
        httpx.Client(base_url=base, timeout=120, headers=api_keys.header(api_keys.other)) as b,
    ):
        assert wait_ready(a).status_code == 200
        yield a, b, root
    serve.delete("tenancy")


@pytest.fixture(scope="module")
def amy(graph: Graph, bundled_model: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """school-a's student with a published adapter (as a clone by a school-a key leaves it)."""
    _, _, root = graph
    adapter = make_adapter(bundled_model.model, tmp_path_factory.mktemp("amy") / "a", seed=21)
    LocalAdapterStore(root / "adapters").publish(owned_id(TENANT, AMY), adapter)
    return AMY


def probes(student_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every request of a key that names a student: method, path, body."""
    model = f"aivo-tutor:student:{student_id}"
    return [
        ("GET", f"/v1/students/{student_id}/adapter", None),
        ("POST", f"/v1/students/{student_id}/adapter/rollback", {"version": 1}),
        ("POST", "/v1/cache/invalidate", {"student_id": student_id}),
        ("GET", f"/v1/models/{model}", None),
        ("POST", "/v1/chat/completions", {"model": model, "messages": HELLO, "aivo": TUTORING}),
        ("DELETE", f"/v1/students/{student_id}", None),
    ]


def seen(
    client: httpx.Client, method: str, path: str, body: dict[str, Any] | None, student_id: str
) -> tuple[int, str]:
    """Status and body, with the student id written as `<id>` (so two ids compare)."""
    r = client.request(method, path, json=body)
    return r.status_code, r.text.replace(student_id, "<id>")


def test_another_tenants_student_answers_as_an_id_that_does_not_exist(
    graph: Graph, amy: str
) -> None:
    a, b, _ = graph
    for ghost_probe, real_probe in zip(probes(GHOST), probes(amy), strict=True):
        (method, path, body), (_, real_path, real_body) = ghost_probe, real_probe
        ghost = seen(b, method, path, body, GHOST)
        foreign = seen(b, method, real_path, real_body, amy)
        assert foreign == ghost, (real_path, foreign, ghost)
        assert foreign[0] in (200, 404), foreign  # 200: DELETE and invalidate of no one
    # school-a's student is untouched: still there, still version 1, still served to school-a
    assert a.get(f"/v1/students/{amy}/adapter").json()["live_version"] == 1
    answer = a.post("/v1/generate", json={**QUESTION, "student_id": amy}).json()
    assert answer["adapter"] == {"student_id": amy, "version": 1}


def test_another_tenant_is_answered_by_the_base_model_for_that_student_id(
    graph: Graph, amy: str
) -> None:
    _, b, _ = graph
    keys = ("adapter", "adapter_note", "cached", "fallback_used")
    foreign = b.post("/v1/generate", json={**QUESTION, "student_id": amy}).json()
    ghost = b.post("/v1/generate", json={**QUESTION, "student_id": GHOST}).json()
    assert {k: foreign[k] for k in keys} == {k: ghost[k] for k in keys}
    assert foreign["adapter"] is None and foreign["cached"] is False


def test_lists_show_only_the_tenants_own_students(graph: Graph, amy: str) -> None:
    a, b, _ = graph
    assert amy in [s["student_id"] for s in a.get("/v1/students").json()["students"]]
    assert amy not in [s["student_id"] for s in b.get("/v1/students").json()["students"]]
    a_models = [m["id"] for m in a.get("/v1/models").json()["data"]]
    b_models = [m["id"] for m in b.get("/v1/models").json()["data"]]
    assert f"aivo-tutor:student:{amy}" in a_models
    assert b_models == ["aivo-tutor"]


def test_cached_answers_do_not_cross_tenants(graph: Graph, amy: str) -> None:
    a, b, _ = graph
    question = {**QUESTION, "prompt": "What is 9 + 4?"}
    for body in (question, {**question, "student_id": amy}):
        a.post("/v1/generate", json=body)
        assert a.post("/v1/generate", json=body).json()["cached"] is True
        assert b.post("/v1/generate", json=body).json()["cached"] is False
    metrics = a.get("/metrics").text  # tokens are counted per tenant
    for tenant in (TENANT, OTHER_TENANT):
        assert f'aivo_generated_tokens_total{{tenant="{tenant}"}}' in metrics


def test_another_tenants_clone_of_the_id_is_its_own_student_and_job(graph: Graph, amy: str) -> None:
    a, b, _ = graph
    examples = [{"profile": PROFILE}] + [
        {"prompt": q, "response": r} for q, r in student_examples(16, seed=3)
    ]
    started = b.post(f"/v1/students/{amy}/clone", json={"examples": examples})
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    # school-a cannot see school-b's job: the same 404 as a job that never existed
    unknown = "aivo-clone-000000000000"
    assert seen(a, "GET", f"/v1/jobs/{job_id}", None, job_id) == seen(
        a, "GET", f"/v1/jobs/{unknown}", None, unknown
    )
    deadline = time.monotonic() + 600
    while (report := b.get(f"/v1/jobs/{job_id}").json())["status"] not in FINISHED:
        assert time.monotonic() < deadline, report
        time.sleep(2)
    assert report["status"] == "SUCCEEDED", report
    assert [r["student_id"] for r in report["results"]] == [amy]
    assert a.get(f"/v1/jobs/{job_id}").status_code == 404
    # two students under one id: school-b's new one, and school-a's, unchanged
    assert b.get(f"/v1/students/{amy}/adapter").json()["metadata"]["metrics"]
    assert a.get(f"/v1/students/{amy}/adapter").json()["metadata"] == {}
    deleted = b.delete(f"/v1/students/{amy}")
    assert deleted.status_code == 200 and deleted.json()["removed"]["adapter_files"] >= 3
    assert a.get(f"/v1/students/{amy}/adapter").json()["live_version"] == 1
