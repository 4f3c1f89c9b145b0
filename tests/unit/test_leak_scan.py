"""The suite's leak scan (support/leak_scan.py) finds what the tests sent and got back, and only
that: raw student ids, prompts, keys and answers in log and metrics text."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from aivo.observability import pseudonym
from support.leak_scan import LeakScan

KEY = "aivo_app_" + "k3y" * 12
PROMPT = "Why do leaves change color in the fall when the days get shorter?"
ANSWER = "In the fall, trees stop making chlorophyll, so the green fades and yellow shows."


def scan_after_one_exchange() -> LeakScan:
    scan = LeakScan()
    body = {"prompt": PROMPT, "grade_level": "4", "subject": "science", "student_id": "stu-7"}
    request = httpx.Request(
        "POST",
        "http://127.0.0.1:8000/v1/generate",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
    )
    scan.learn_request(request)
    response = httpx.Response(200, json={"text": ANSWER, "adapter": None}, request=request)
    scan.learn_response(request, response)
    path = httpx.Request("POST", "http://127.0.0.1:8000/v1/students/stu-path-9/clone")
    scan.learn_request(path)
    return scan


def test_each_kind_is_found_however_the_log_writes_it() -> None:
    scan = scan_after_one_exchange()
    logs = {
        "metrics": 'ray_serve_registered_multiplexed_model_id{model_id="stu-7"} 1.0',
        "access log": "INFO proxy POST /v1/students/stu-path-9/clone 202 12.5ms",
        "traceback": f"AdapterNotFound: student stu-7 has no adapter (key {KEY[-36:]})",
        "json log": json.dumps({"msg": "prompt", "text": PROMPT.replace(" ", "\n")}),
        "answer": f"generated: {ANSWER.upper()}",
    }
    for where, text in logs.items():
        scan.scan(where, text)
    assert scan.findings == {
        "metrics": {"student id"},
        "access log": {"student id"},
        "traceback": {"student id", "api key"},
        "json log": {"prompt"},
        "answer": {"answer"},
    }


def test_pseudonyms_other_ids_and_common_phrases_are_not_findings() -> None:
    scan = scan_after_one_exchange()
    clean = [
        f'ray_serve_registered_multiplexed_model_id{{model_id="{pseudonym("stu-7")}"}} 1.0',
        "student stu-70 and stu-7x are other students",
        "why do leaves change color",  # fewer words in a row than a finding needs
        "aivo_app is the key id",
    ]
    for i, text in enumerate(clean):
        scan.scan(f"clean {i}", text)
    assert scan.findings == {}


def test_a_ray_log_folder_is_scanned_file_by_file(tmp_path: Path) -> None:
    scan = scan_after_one_exchange()
    logs = tmp_path / "session_latest" / "logs"
    logs.mkdir(parents=True)
    (logs / "worker-1.err").write_text("Traceback: student stu-7 has no adapter\n")
    (logs / "raylet.out").write_text("all quiet\n")
    code = tmp_path / "session_latest" / "runtime_resources" / "working_dir_files" / "pkg"
    code.mkdir(parents=True)
    (code / "words.txt").write_text("stu-7\n")  # Ray's copy of the app's own data: not a log
    scan.scan_folder(tmp_path)
    assert scan.findings == {str(logs / "worker-1.err"): {"student id"}}
