"""The one place where errors become HTTP answers: `{"error": {"code", "message"}}`, no traces."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aivo.errors import AivoError, field_problem
from aivo.observability import get_logger, log_event

log = get_logger("aivo.http")


def error_response(
    status: int, code: str, message: str, retry_after_s: float | None = None
) -> JSONResponse:
    headers = {"Retry-After": str(max(1, round(retry_after_s)))} if retry_after_s else None
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def aivo_error_response(error: AivoError) -> JSONResponse:
    return error_response(error.status, error.code, error.message, error.retry_after_s)


def _validation_message(error: RequestValidationError) -> str:
    return "; ".join(
        "body: not valid JSON"
        if e.get("type") == "json_invalid"
        else field_problem(e, empty="body", skip={"body"})
        for e in error.errors()[:5]
    )


def unwrap(exc: BaseException) -> BaseException:
    """A Ray task error carries the replica's exception as its cause."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def install_error_handlers(app: FastAPI) -> None:
    async def on_aivo_error(_: Request, exc: Exception) -> JSONResponse:
        error = unwrap(exc)
        assert isinstance(error, AivoError)
        return aivo_error_response(error)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, "invalid_request", _validation_message(exc))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(exc.status_code, "http_error", str(exc.detail))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        error = unwrap(exc)
        if isinstance(error, AivoError):
            return await on_aivo_error(request, error)
        log_event(log, "unhandled error", route=request.url.path, error=type(error).__name__)
        return error_response(500, "internal_error", "the server failed to answer; try again")

    app.add_exception_handler(AivoError, on_aivo_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
