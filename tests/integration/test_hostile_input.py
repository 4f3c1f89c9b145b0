"""Hostile input against the whole graph over HTTP: a property-based fuzz from the OpenAPI
document, plus hand-made bodies. No 5xx, no stack trace, always the JSON error shape."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from ray import serve

from aivo.api.openai.errors import is_openai_route
from aivo.config import parse_config
from deployments.builder import build_app
from support.keys import ApiKeys
from support.serving import wait_ready

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url(serve_port: int, api_keys: ApiKeys):  # type: ignore[no-untyped-def]
    config = parse_config(
        {
            # A low max_tokens cap keeps every valid fuzzed generation short on a CPU.
            "security": {
                "api_keys_file": str(api_keys.file),
                "max_tokens": 4,
                "requests_per_minute": 100_000,
            },
            "deployments": {
                "ingress": {"num_cpus": 0.1},
                "preprocessor": {"num_cpus": 0.1},
                "inference": {"num_cpus": 0.5},
            },
        }
    )
    serve.run(build_app(config), name="fuzz", route_prefix="/fuzz")
    url = f"http://127.0.0.1:{serve_port}/fuzz"
    with httpx.Client(base_url=url, timeout=60) as c:
        assert wait_ready(c).status_code == 200
    yield url
    serve.delete("fuzz")


def assert_clean(response: httpx.Response | object) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    assert status < 500, text
    assert "Traceback" not in text and 'File "' not in text
    if status >= 400:
        body = response.json()  # type: ignore[attr-defined]
        shape = {"code", "message"}
        url = str(response.request.url)  # type: ignore[attr-defined]  # httpx's or requests'
        if is_openai_route(urlsplit(url).path):
            shape = {"message", "type", "param", "code"}
        assert set(body) == {"error"} and set(body["error"]) == shape, text


def test_fuzzed_requests_get_no_5xx_and_no_trace(base_url: str, api_keys: ApiKeys) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/generate", "/v1/students/{student_id}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:  # type: ignore[no-untyped-def]
            headers = api_keys.header(api_keys.admin)
            assert_clean(case.call(base_url=base_url, headers=headers, timeout=60))

        fuzz()


def test_the_fuzzer_with_every_check_finds_nothing(base_url: str, api_keys: ApiKeys) -> None:
    """Schemathesis as an outside fuzzer runs it (`--checks all`): every phase, every check,
    including schema-valid requests accepted, invalid ones refused, 405 with Allow."""
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {api_keys.admin}",
            "--max-examples",
            "12",
            "--request-timeout",
            "60",
            "--seed",
            "15",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert run.returncode == 0, run.stdout[-6000:]


BODIES: list[tuple[bytes, str]] = [
    (b"", "application/json"),
    (b"null", "application/json"),
    (b"[]", "application/json"),
    (b'{"prompt": 5, "grade_level": [], "subject": {}}', "application/json"),
    (
        b'{"prompt": "hi", "grade_level": "3", "subject": "math", "max_tokens": "9"}',
        "application/json",
    ),
    (
        b'{"prompt": "hi", "grade_level": "3", "subject": "math", "max_tokens": 100}',
        "application/json",
    ),
    (
        '{"prompt": "\u202e\u0000\ud83d\ude00\u200b'.encode("utf-8", "surrogatepass")
        + b'", "grade_level": "3", "subject": "math"}',
        "application/json",
    ),
    (
        b'{"prompt": "' + "🦄".encode() * 3000 + b'", "grade_level": "3"}',
        "application/json",
    ),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b"prompt=hi&grade_level=3", "application/x-www-form-urlencoded"),
    (
        b'{"prompt": "hi", "grade_level": "3", "subject": "math"' + b" " * 70_000 + b"}",
        "application/json",
    ),
    (b"{" * 5000, "application/json"),
]


@pytest.mark.parametrize(("body", "content_type"), BODIES)
def test_malformed_bodies_get_4xx_in_the_error_shape(
    base_url: str, api_keys: ApiKeys, body: bytes, content_type: str
) -> None:
    r = httpx.post(
        f"{base_url}/v1/generate",
        content=body,
        timeout=60,
        headers={**api_keys.header(api_keys.app), "content-type": content_type},
    )
    assert 400 <= r.status_code < 500, r.text
    assert_clean(r)


def test_unicode_heavy_prompt_is_answered(base_url: str, api_keys: ApiKeys) -> None:
    r = httpx.post(
        f"{base_url}/v1/generate",
        timeout=60,
        headers=api_keys.header(api_keys.app),
        json={
            "prompt": "¿Cuántos 🍎 hay si tengo 3 y como ½? Ω≈ç√∫ \uff13",
            "grade_level": "2",
            "subject": "math",
            "max_tokens": 4,
        },
    )
    assert r.status_code in (200, 400), r.text
    assert_clean(r)
