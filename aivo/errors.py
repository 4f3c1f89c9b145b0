"""Typed errors that carry what a caller needs to fix the call.

The HTTP layer maps them to status codes in one place (`aivo/api/errors.py`); they travel
through Ray handles unchanged because they pickle as plain exceptions.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any


class AivoError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s

    def __reduce__(self):  # keep the message and retry hint across process boundaries
        return (_rebuild, (type(self), self.message, self.retry_after_s))


def _rebuild(cls: type[AivoError], message: str, retry_after_s: float | None) -> AivoError:
    return cls(message, retry_after_s=retry_after_s)


class InvalidRequest(AivoError):
    status, code = 422, "invalid_request"


class PromptRejected(AivoError):
    status, code = 400, "prompt_rejected"


class Unauthorized(AivoError):
    status, code = 401, "unauthorized"


class Forbidden(AivoError):
    status, code = 403, "forbidden"


class NotFound(AivoError):
    status, code = 404, "not_found"


class ModelNotFound(NotFound):
    """A model id that this deployment does not serve (or this key may not use)."""

    code = "model_not_found"


class RequestTimeout(AivoError):
    """The client did not send its request body in time."""

    status, code = 408, "request_timeout"


class PayloadTooLarge(AivoError):
    status, code = 413, "payload_too_large"


class RateLimited(AivoError):
    status, code = 429, "rate_limited"


class ModelUnavailable(AivoError):
    status, code = 503, "model_unavailable"


class Overloaded(AivoError):
    status, code = 503, "overloaded"


class GenerationTimeout(AivoError):
    status, code = 504, "timeout"


class ServiceUnavailable(AivoError):
    """A part of the graph crashed and is being replaced: nothing was answered; retry."""

    status, code = 503, "service_unavailable"


def field_problem(
    error: Mapping[str, Any], *, empty: str = "<root>", skip: Collection[object] = ()
) -> str:
    """`loc: msg` of one pydantic error, never its input (which may be a student's text)."""
    where = ".".join(str(part) for part in error.get("loc", ()) if part not in skip)
    return f"{where or empty}: {error.get('msg', 'invalid value')}"


def validation_problems(errors: Iterable[Mapping[str, Any]], *, empty: str = "<root>") -> str:
    """Every pydantic error of a validation as `loc: msg`, joined by "; "."""
    return "; ".join(field_problem(error, empty=empty) for error in errors)
