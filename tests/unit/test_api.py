"""The HTTP layer with a small real service: error shapes, limits, metrics; no Ray needed."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from aivo.api.app import create_api
from aivo.config import CacheConfig, SecurityConfig
from aivo.errors import GenerationTimeout, ModelUnavailable
from aivo.schemas import (
    GenerateRequest,
    GenerateResponse,
    InvalidateRequest,
    StudentDeletion,
    Usage,
)
from aivo.security.keys import SCOPES, KeyRing, Principal, Scope, new_key
from aivo.security.limits import RateLimiter
from support.keys import ApiKeys


class EchoTutor:
    """Answers with the prompt reversed; fails on demand with the product's own errors."""

    def __init__(self) -> None:
        self.ready = True
        self.limits = RateLimiter(SecurityConfig(requests_per_minute=20), CacheConfig())

    async def generate(
        self, request: GenerateRequest, request_id: str, principal: Principal
    ) -> GenerateResponse:
        if request.prompt == "timeout":
            raise GenerationTimeout("generation took over 30 s")
        if request.prompt == "down":
            raise ModelUnavailable("no model could be loaded", retry_after_s=30)
        if request.prompt == "bug":
            raise RuntimeError("secret internal detail")
        return GenerateResponse(
            id=request_id,
            text=request.prompt[::-1],
            model="echo",
            usage=Usage(prompt_tokens=1, completion_tokens=1),
            latency_ms=0.1,
        )

    async def readiness(self) -> dict[str, object]:
        failures = {} if self.ready else {"bundled": "OSError: /srv/models/secret-path missing"}
        return {"ready": self.ready, "cache": "ok", "inference": {"failures": failures}}

    async def count_request(self, principal: Principal) -> None:
        await self.limits.admit(principal)

    async def invalidate_cache(self, tenant: str, target: InvalidateRequest) -> int:
        return 0

    async def delete_student(self, tenant: str, student_id: str) -> StudentDeletion:
        return StudentDeletion(student_id=student_id, removed={})


@pytest.fixture
def tutor() -> EchoTutor:
    return EchoTutor()


def make_client(tutor: EchoTutor, keys: ApiKeys, token: str | None, **security: object):  # type: ignore[no-untyped-def]
    app = create_api(tutor, SecurityConfig(max_body_bytes=2048, **security), keys.ring())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = keys.header(token) if token else {}
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)


@pytest.fixture
async def client(tutor: EchoTutor, api_keys: ApiKeys):  # type: ignore[no-untyped-def]
    async with make_client(tutor, api_keys, api_keys.app) as c:
        yield c


BODY = {"prompt": "abc", "grade_level": "5", "subject": "math"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


pytestmark = pytest.mark.anyio


async def test_generate_answers_with_a_request_id(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/generate", json=BODY)
    assert r.status_code == 200
    assert r.json()["text"] == "cba"
    assert r.json()["id"] == r.headers["x-request-id"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"grade_level": "13"}, "grade_level"),
        ({"subject": "alchemy"}, "subject"),
        ({"max_tokens": 5000}, "max_tokens"),
        ({"prompt": ""}, "prompt"),
    ],
)
async def test_invalid_field_is_422_naming_it(
    client: httpx.AsyncClient, patch: dict, field: str
) -> None:
    r = await client.post("/v1/generate", json={**BODY, **patch})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"
    assert r.json()["error"]["message"].startswith(field)


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/generate", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert "JSON" in r.json()["error"]["message"]


async def test_oversized_body_is_413_declared_or_streamed(client: httpx.AsyncClient) -> None:
    big = {**BODY, "prompt": "x" * 3000}
    r = await client.post("/v1/generate", json=big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    async def chunks():  # no Content-Length: the limit must hold on the stream itself
        for _ in range(4):
            yield b"x" * 1000

    r = await client.post(
        "/v1/generate", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("prompt", "status", "code"),
    [
        ("timeout", 504, "timeout"),
        ("down", 503, "model_unavailable"),
        ("bug", 500, "internal_error"),
    ],
)
async def test_errors_use_the_json_shape_and_hide_internals(
    client: httpx.AsyncClient, prompt: str, status: int, code: str
) -> None:
    r = await client.post("/v1/generate", json={**BODY, "prompt": prompt})
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    assert "Traceback" not in r.text and "secret internal detail" not in r.text
    if status == 503:
        assert r.headers["retry-after"] == "30"


async def test_ready_reflects_the_service(client: httpx.AsyncClient, tutor: EchoTutor) -> None:
    assert (await client.get("/ready")).status_code == 200
    tutor.ready = False
    r = await client.get("/ready")
    assert r.status_code == 503
    assert "secret-path" not in r.text and "OSError" not in r.text  # the reasons are logged
    assert r.json() == {"ready": False, "cache": "ok", "request_id": r.headers["x-request-id"]}
    assert (await client.get("/health")).json() == {"status": "ok"}


async def test_unknown_route_is_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "http_error"


async def test_metrics_count_requests_by_route_and_status(client: httpx.AsyncClient) -> None:
    await client.post("/v1/generate", json=BODY)
    await client.post("/v1/generate", json={**BODY, "grade_level": "99"})
    text = (await client.get("/metrics")).text
    assert 'aivo_http_requests_total{route="/v1/generate",status="200"}' in text
    assert 'aivo_http_errors_total{route="/v1/generate",status="422"}' in text
    assert "aivo_http_request_duration_seconds_bucket" in text


async def test_openapi_documents_the_contract(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/generate" in spec["paths"]
    assert "422" in spec["paths"]["/v1/generate"]["post"]["responses"]
    assert (await client.get("/docs")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/generate", BODY),
        ("post", "/v1/cache/invalidate", {"all": True}),
        ("delete", "/v1/students/amy", None),
    ],
)
async def test_every_v1_route_refuses_without_a_valid_key(
    tutor: EchoTutor, api_keys: ApiKeys, method: str, path: str, body: dict | None
) -> None:
    wrong = api_keys.app[:-4] + "AAAA"
    for token in (None, wrong, "aivo_nobody_" + "x" * 40, "not-a-key"):
        async with make_client(tutor, api_keys, token) as c:
            r = await c.request(method, path, json=body)
            assert r.status_code == 401, (token, r.text)
            assert r.json()["error"]["code"] == "unauthorized"


async def test_scopes_hold(tutor: EchoTutor, api_keys: ApiKeys) -> None:
    async with make_client(tutor, api_keys, api_keys.app) as app_client:
        r = await app_client.post("/v1/cache/invalidate", json={"all": True})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert (await app_client.delete("/v1/students/amy")).status_code == 403
    async with make_client(tutor, api_keys, api_keys.admin) as admin:
        assert (await admin.post("/v1/cache/invalidate", json={"all": True})).status_code == 200
        assert (await admin.delete("/v1/students/amy")).status_code == 200
        assert (await admin.post("/v1/generate", json=BODY)).status_code == 200


SCOPED_ROUTES: list[tuple[Scope, str, str, dict | None]] = [
    ("generate", "POST", "/v1/generate", BODY),
    ("generate", "POST", "/v1/chat/completions", {"model": "aivo-tutor", "messages": []}),
    ("generate", "GET", "/v1/models", None),
    ("students:read", "GET", "/v1/students", None),
    ("students:read", "GET", "/v1/students/amy/adapter", None),
    ("students:read", "GET", "/v1/jobs/aivo-clone-1", None),
    ("students:write", "POST", "/v1/students/amy/clone", {"examples": [{"profile": {}}]}),
    ("students:write", "POST", "/v1/students/amy/adapter/rollback", {"version": 1}),
    ("students:delete", "DELETE", "/v1/students/amy", None),
    ("cache:admin", "POST", "/v1/cache/invalidate", {"all": True}),
    ("metrics:read", "GET", "/metrics", None),
]


@pytest.mark.parametrize(("scope", "method", "path", "body"), SCOPED_ROUTES)
async def test_each_route_needs_its_own_scope_and_no_other(
    tutor: EchoTutor,
    api_keys: ApiKeys,
    scope: Scope,
    method: str,
    path: str,
    body: dict | None,
) -> None:
    only, only_entry = new_key("only", "school-a", [scope])
    others, others_entry = new_key("others", "school-a", [s for s in SCOPES if s != scope])
    app = create_api(
        tutor, SecurityConfig(metrics_require_key=True), KeyRing([only_entry, others_entry])
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        refused = await c.request(method, path, json=body, headers=api_keys.header(others))
        assert refused.status_code == 403, refused.text
        assert scope in refused.json()["error"]["message"]
        allowed = await c.request(method, path, json=body, headers=api_keys.header(only))
        assert allowed.status_code not in (401, 403), allowed.text


async def test_health_ready_and_metrics_stay_open_unless_configured(
    tutor: EchoTutor, api_keys: ApiKeys
) -> None:
    async with make_client(tutor, api_keys, None) as anonymous:
        for path in ("/health", "/ready", "/metrics"):
            assert (await anonymous.get(path)).status_code == 200
    async with make_client(tutor, api_keys, None, metrics_require_key=True) as anonymous:
        assert (await anonymous.get("/metrics")).status_code == 401
    async with make_client(tutor, api_keys, api_keys.admin, metrics_require_key=True) as admin:
        assert (await admin.get("/metrics")).status_code == 200


async def test_admin_routes_are_rate_limited_per_tenant(
    tutor: EchoTutor, api_keys: ApiKeys
) -> None:
    async with make_client(tutor, api_keys, api_keys.admin) as admin:
        statuses = [
            (await admin.post("/v1/cache/invalidate", json={"all": True})).status_code
            for _ in range(21)
        ]
        assert statuses == [200] * 20 + [429]
        assert (await admin.delete("/v1/students/amy")).status_code == 429
    async with make_client(tutor, api_keys, api_keys.other) as other:
        invalidated = await other.post("/v1/cache/invalidate", json={"all": True})
        assert invalidated.status_code == 200  # another tenant has its own limit


@pytest.mark.parametrize("path", ["/v1/generate", "/v1/cache/invalidate", "/health", "/ready"])
async def test_an_undeclared_method_is_405_with_allow(client: httpx.AsyncClient, path: str) -> None:
    r = await client.request("TRACE", path)
    assert r.status_code == 405 and r.json()["error"]["code"] == "http_error"
    assert r.headers["allow"] == ("GET" if path in ("/health", "/ready") else "POST")


class SlowBody:
    """An ASGI `receive` whose client sends `first` and then nothing more; counts its reads."""

    def __init__(self, first: bytes) -> None:
        self.first, self.reads = first, 0

    async def __call__(self) -> dict[str, object]:
        self.reads += 1
        if self.reads == 1:
            return {"type": "http.request", "body": self.first, "more_body": True}
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


async def call(app: object, headers: dict[str, str], receive: SlowBody) -> int:
    """POST /v1/generate straight into the ASGI app; the response's status."""
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/generate",
        "raw_path": b"/v1/generate",
        "root_path": "",
        "query_string": b"",
        "server": ("test", 80),
        "client": ("127.0.0.1", 5000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await asyncio.wait_for(app(scope, receive, send), 10)  # type: ignore[operator]
    return int(sent[0]["status"])  # type: ignore[call-overload]


async def test_a_request_without_a_key_is_refused_before_its_body_is_read(
    tutor: EchoTutor, api_keys: ApiKeys
) -> None:
    app = create_api(tutor, SecurityConfig(), api_keys.ring())
    body = SlowBody(b'{"prompt": "')
    headers = {"content-type": "application/json", "content-length": "60000"}
    assert await call(app, headers, body) == 401
    assert body.reads == 0


async def test_a_slow_body_is_408(tutor: EchoTutor, api_keys: ApiKeys) -> None:
    app = create_api(tutor, SecurityConfig(body_read_timeout_s=0.2), api_keys.ring())
    body = SlowBody(b'{"prompt": "')
    headers = {**api_keys.header(api_keys.app), "content-type": "application/json"}
    assert await call(app, {**headers, "content-length": "600"}, body) == 408
