"""The one place where errors become HTTP answers: `{"error": {"code", "message"}}`, no traces;
on the OpenAI-compatible routes, OpenAI's shape (`aivo/api/openai/errors.py`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aivo.api.openai.errors import is_openai_route, openai_error
from aivo.errors import AivoError, field_problem
from aivo.observability import get_logger, log_event

log = get_logger("aivo.http")


def error_response(
    status: int,
    code: str,
    message: str,
    retry_after_s: float | None = None,
    *,
    path: str = "",
    param: str | None = None,
) -> JSONResponse:
    """`path`: the request's, which picks the shape; `param`: the field at fault, if known."""
    headers = {"Retry-After": str(max(1, round(retry_after_s)))} if retry_after_s else None
    body: dict[str, object] = {"error": {"code": code, "message": message}}
    if is_openai_route(path):
        status, body = openai_error(status, code, message, param)
    return JSONResponse(body, status_code=status, headers=headers)


def aivo_error_response(error: AivoError, path: str = "") -> JSONResponse:
    return error_response(error.status, error.code, error.message, error.retry_after_s, path=path)


def _validation_message(error: RequestValidationError) -> tuple[str, str | None]:
    """The problems, and the first field at fault."""
    problems, fields = [], []
    for e in error.errors()[:5]:
        if e.get("type") == "json_invalid":
            problems.append("body: not valid JSON")
        else:
            problems.append(field_problem(e, empty="body", skip={"body"}))
            fields.append(problems[-1].split(":", 1)[0])
    return "; ".join(problems), next(iter(fields), None)


def unwrap(exc: BaseException) -> BaseException:
    """A Ray task error carries the replica's exception as its cause."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def install_error_handlers(app: FastAPI) -> None:
    async def on_aivo_error(request: Request, exc: Exception) -> JSONResponse:
        error = unwrap(exc)
        assert isinstance(error, AivoError)
        return error_response(
            error.status,
            error.code,
            error.message,
            error.retry_after_s,
            path=request.scope["path"],
            param=getattr(error, "param", None),
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, field = _validation_message(exc)
        return error_response(
            422, "invalid_request", message, path=request.scope["path"], param=field
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        path = request.scope["path"]
        response = error_response(exc.status_code, "http_error", str(exc.detail), path=path)
        response.headers.update(exc.headers or {})  # a 405's Allow (RFC 9110)
        return response

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        error = unwrap(exc)
        if isinstance(error, AivoError):
            return await on_aivo_error(request, error)
        # the route's template, never the raw path: paths carry student ids
        route = getattr(request.scope.get("route"), "path", "unmatched")
        log_event(log, "unhandled error", route=route, error=type(error).__name__)
        return error_response(
            500,
            "internal_error",
            "the server failed to answer; try again",
            path=request.scope["path"],
        )

    app.add_exception_handler(AivoError, on_aivo_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
