"""The clone job's settings, requests, command line and summary lines (no Ray needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from aivo.config import BUNDLED_MODEL, ConfigError, parse_config
from aivo.errors import InvalidRequest
from aivo.training.job import clone_job_config, clone_requests
from aivo.training.results import CloneResult, CloneStatus, parse_clone_results, summary_line
from aivo.training.settings import CloneJobConfig

REPO = Path(__file__).resolve().parents[2]
SERVE_CONFIG = REPO / "configs" / "serve.yaml"


def test_the_job_takes_model_chain_and_storage_from_the_serve_config() -> None:
    config = clone_job_config(SERVE_CONFIG)
    assert config.engine.models[0].name == BUNDLED_MODEL
    assert config.storage.adapter_root.endswith("var/adapters")
    assert config.training.steps == 60


def test_command_line_overrides_win() -> None:
    config = clone_job_config(
        SERVE_CONFIG,
        adapter_root="s3://bucket/adapters",
        s3_endpoint_url="http://127.0.0.1:9000",
        training={"steps": 4, "learning_rate": 0.01},
    )
    assert config.storage.adapter_root == "s3://bucket/adapters"
    assert config.storage.s3_endpoint_url == "http://127.0.0.1:9000"
    assert (config.training.steps, config.training.learning_rate) == (4, 0.01)


def test_the_job_is_handed_the_applications_config_whole() -> None:
    app = parse_config({"training": {"steps": 4}, "storage": {"adapter_root": "s3://b/adapters"}})
    sent = CloneJobConfig.of(app)
    received = CloneJobConfig.model_validate_json(sent.model_dump_json())
    assert received == sent
    assert (received.training.steps, received.storage.adapter_root) == (4, "s3://b/adapters")
    assert received.engine == app.engine


def test_bad_settings_fail_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="steps"):
        clone_job_config(SERVE_CONFIG, training={"steps": -1})
    with pytest.raises(ValidationError, match="Extra inputs"):
        clone_job_config(SERVE_CONFIG, training={"epochs": 3})
    with pytest.raises(ConfigError, match="no `applications`"):
        (tmp_path / "empty.yaml").write_text("{}\n")
        clone_job_config(tmp_path / "empty.yaml")


def test_requests_pair_students_with_datasets() -> None:
    requests = clone_requests(["a1", "b2"], ["s3://b/a.jsonl", "/data/b.jsonl"])
    assert [(r.student_id, r.dataset_uri) for r in requests] == [
        ("a1", "s3://b/a.jsonl"),
        ("b2", "/data/b.jsonl"),
    ]
    with pytest.raises(InvalidRequest, match="one --dataset for each --student-id"):
        clone_requests(["a1", "b2"], ["s3://b/a.jsonl"])
    with pytest.raises(InvalidRequest, match="twice"):
        clone_requests(["a1", "a1"], ["x", "y"])
    with pytest.raises(InvalidRequest, match="student_id must match"):
        clone_requests(["a/../b"], ["x"])


def test_summary_lines_are_found_among_other_log_lines() -> None:
    published = CloneResult("a1", CloneStatus.published, version=3, metrics={"steps": 2}).summary()
    refused = CloneResult("b2", CloneStatus.not_published, reason="no gain").summary()
    logs = "\n".join(
        [
            "2026-01-01 INFO worker.py -- Connecting to existing Ray cluster",
            '(LoRACloner pid=12) {"msg":"step 1/2 loss 2.1","student":"9f"}',
            summary_line(published),
            '{"ts":1,"level":"info","logger":"aivo.training","msg":"clone finished"}',
            summary_line(refused),
            "{not json",
        ]
    )
    assert parse_clone_results(logs) == [json.loads(summary_line(published)), refused]
    assert parse_clone_results(logs)[0]["version"] == 3


SERVE = "configs/serve.yaml"
GIVEN = ["--student-id", "a1", "--dataset", "x", "--config", SERVE]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--student-id", "a1", "--dataset", "x"], "give --config"),
        ([*GIVEN, "--student-id", "b2"], "one --dataset for each"),
        (["--student-id", "a b", "--dataset", "x", "--config", SERVE], "student_id must match"),
        ([*GIVEN, "--steps", "-2"], "steps: Input should be"),
        ([*GIVEN, "--batch-size", "0"], "batch_size: Input should be"),
        (["--student-id", "a1", "--dataset", "x", "--config", "missing.yaml"], "missing.yaml"),
        (["--student-id", "a1", "--dataset", "x", "--job-config", "{}", "--steps", "3"], "whole"),
        (["--student-id", "a1", "--dataset", "x", "--job-config", "{}"], "engine: Field required"),
    ],
)
def test_a_wrong_command_exits_2_with_one_line(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "jobs/clone_student.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("clone_student: ")
    assert message in line
    assert done.stdout == ""
