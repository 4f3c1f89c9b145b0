"""The FastAPI application of the ingress: routes, middleware and error handlers.

No `from __future__ import annotations` here: FastAPI must evaluate the route annotations,
which refer to dependencies built inside `create_api`.
"""

from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aivo.api.errors import install_error_handlers
from aivo.api.middleware import BodyLimitMiddleware, KeyMiddleware, ObservabilityMiddleware
from aivo.api.openai.routes import ChatService, add_openai_routes
from aivo.config import SecurityConfig
from aivo.observability import REGISTRY, TENANT_REQUESTS, get_logger, log_event
from aivo.schemas import (
    STUDENT_ID_PATTERN,
    AdapterInfo,
    CloneJob,
    CloneRequest,
    ErrorResponse,
    GenerateRequest,
    GenerateResponse,
    InvalidateRequest,
    InvalidateResponse,
    JobReport,
    RollbackRequest,
    StudentDeletion,
    StudentPage,
)
from aivo.security.keys import KeyRing, Principal, Scope

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse}
    for status in (400, 401, 403, 404, 408, 409, 413, 422, 429, 503, 504)
}
log = get_logger("aivo.http")


class Service(ChatService, Protocol):
    """What the routes call; `aivo.service.TutorService` implements it."""

    async def readiness(self) -> dict[str, object]: ...

    async def count_request(self, principal: Principal) -> None: ...

    async def invalidate_cache(self, tenant: str, target: InvalidateRequest) -> int: ...

    async def delete_student(self, tenant: str, student_id: str) -> StudentDeletion: ...

    async def clone(self, tenant: str, student_id: str, request: CloneRequest) -> CloneJob: ...

    async def job(self, tenant: str, job_id: str) -> JobReport: ...

    async def adapter(self, tenant: str, student_id: str) -> AdapterInfo: ...

    async def rollback(self, tenant: str, student_id: str, version: int) -> AdapterInfo: ...

    async def students(self, tenant: str, after: str | None, limit: int) -> StudentPage: ...


def create_api(service: Service, security: SecurityConfig, keys: KeyRing) -> FastAPI:
    app = FastAPI(
        title="AIVO brain",
        version="1",
        description="AI tutoring for K-12: grade-aware, standards-aligned, per-student models.",
    )
    install_error_handlers(app)
    bearer = HTTPBearer(auto_error=False, description="An AIVO API key: `aivo_<id>_<secret>`.")

    def scoped(scope: Scope, *, counted: bool = True) -> Any:
        """The key's principal, with `scope`; every route acts for the key's tenant only.
        `counted`: the request counts against the tenant's rate limit here (False: the service
        admits it, with its token reservation)."""

        async def check(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        ) -> Principal:
            principal: Principal = request.state.principal  # KeyMiddleware authenticated it
            keys.authorize(principal, scope)
            TENANT_REQUESTS.labels(tenant=principal.tenant, scope=scope).inc()
            if counted:
                await service.count_request(principal)
            return principal

        return Depends(check)

    @app.post(
        "/v1/generate",
        response_model=GenerateResponse,
        responses={
            **ERRORS,
            200: {
                "description": "The answer; with `stream: true`, server-sent events instead: "
                "`chunk` ({text}) per piece, `replace` ({text}: what the learner sees instead "
                "of what was sent, when the answer was unsafe), then `done` (this body) or "
                "`error` ({error}).",
                "content": {"text/event-stream": {}},
            },
        },
    )
    async def generate(
        body: GenerateRequest,
        request: Request,
        principal: Annotated[Principal, scoped("generate", counted=False)],
    ) -> GenerateResponse | StreamingResponse:
        if body.stream:
            events = await service.stream(body, request.state.request_id, principal)
            return StreamingResponse(events, media_type="text/event-stream")
        return await service.generate(body, request.state.request_id, principal)

    @app.post(
        "/v1/cache/invalidate",
        response_model=InvalidateResponse,
        responses=ERRORS,
    )
    async def invalidate_cache(
        body: InvalidateRequest, principal: Annotated[Principal, scoped("cache:admin")]
    ) -> InvalidateResponse:
        return InvalidateResponse(removed=await service.invalidate_cache(principal.tenant, body))

    @app.delete("/v1/students/{student_id}", response_model=StudentDeletion, responses=ERRORS)
    async def delete_student(
        principal: Annotated[Principal, scoped("students:delete")],
        student_id: str = Path(pattern=STUDENT_ID_PATTERN),
    ) -> StudentDeletion:
        return await service.delete_student(principal.tenant, student_id)

    student_path = Annotated[str, Path(pattern=STUDENT_ID_PATTERN)]

    @app.post(
        "/v1/students/{student_id}/clone",
        status_code=202,
        response_model=CloneJob,
        responses=ERRORS,
    )
    async def clone(
        student_id: student_path,
        body: CloneRequest,
        principal: Annotated[Principal, scoped("students:write")],
    ) -> CloneJob:
        """Train this student's adapter from the examples, as a Ray job; a request while one
        runs for the student answers with that job. The first clone of an id makes the student
        one of the key's tenant's."""
        return await service.clone(principal.tenant, student_id, body)

    @app.get("/v1/jobs/{job_id}", response_model=JobReport, responses=ERRORS)
    async def job(
        job_id: Annotated[str, Path(max_length=64)],
        principal: Annotated[Principal, scoped("students:read")],
    ) -> JobReport:
        return await service.job(principal.tenant, job_id)

    @app.get("/v1/students/{student_id}/adapter", response_model=AdapterInfo, responses=ERRORS)
    async def adapter(
        student_id: student_path, principal: Annotated[Principal, scoped("students:read")]
    ) -> AdapterInfo:
        return await service.adapter(principal.tenant, student_id)

    @app.post(
        "/v1/students/{student_id}/adapter/rollback", response_model=AdapterInfo, responses=ERRORS
    )
    async def rollback(
        student_id: student_path,
        body: RollbackRequest,
        principal: Annotated[Principal, scoped("students:write")],
    ) -> AdapterInfo:
        """Make an earlier published version of the student's adapter live again; replicas
        serve it on the student's next request, and no answer of another version is reused."""
        return await service.rollback(principal.tenant, student_id, body.version)

    @app.get("/v1/students", response_model=StudentPage, responses=ERRORS)
    async def students(
        principal: Annotated[Principal, scoped("students:read")],
        after: Annotated[str | None, Query(pattern=STUDENT_ID_PATTERN)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> StudentPage:
        """The key's tenant's students with a live adapter, by id, a page at a time."""
        return await service.students(principal.tenant, after, limit)

    add_openai_routes(app, service, scoped)
    _publish_caps(app, security)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", responses={503: {"description": "Not ready; the reasons are logged."}})
    async def ready(request: Request) -> JSONResponse:
        state = await service.readiness()
        request_id = request.state.request_id
        if not state["ready"]:  # the reasons name models, paths and errors: for operators only
            log_event(log, "not ready", request_id=request_id, state=state)
        public = {"ready": state["ready"], "cache": state.get("cache"), "request_id": request_id}
        return JSONResponse(public, status_code=200 if state["ready"] else 503)

    @app.get(
        "/metrics",
        include_in_schema=False,
        dependencies=[scoped("metrics:read")] if security.metrics_require_key else [],
    )
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    # Middleware added last runs first: ids and metrics wrap everything, including 413s; the
    # key is checked before the body is read.
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=security.max_body_bytes,
        read_timeout_s=security.body_read_timeout_s,
    )
    app.add_middleware(
        KeyMiddleware,
        keys=keys,
        router=app.router,
        keyed=lambda path: (
            path.startswith("/v1/") or (path == "/metrics" and security.metrics_require_key)
        ),
    )
    if security.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=security.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(ObservabilityMiddleware)
    return app


def _publish_caps(app: FastAPI, security: SecurityConfig) -> None:
    """The OpenAPI document states this deployment's caps, so that what it calls valid is
    accepted (a request over a cap answers 422)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            fields = build()["components"]["schemas"]["GenerateRequest"]["properties"]
            fields["max_tokens"]["maximum"] = security.max_tokens
            fields["max_tokens"]["default"] = min(
                fields["max_tokens"]["default"], security.max_tokens
            )
            fields["prompt"]["maxLength"] = security.max_prompt_chars
        return app.openapi_schema  # type: ignore[return-value]  # build() has set it

    app.openapi = openapi  # type: ignore[method-assign]
