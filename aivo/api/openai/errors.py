"""AIVO's errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, on the
OpenAI-compatible routes: the one mapping (`aivo/api/errors.py` renders every error through it
on those routes, so the SDKs raise their usual exception classes)."""

from __future__ import annotations

import re
from typing import Any

from aivo.errors import InvalidRequest

OPENAI_ROUTE = re.compile(r"/v1/(chat/completions|models)(/[^/]*)?$")

# AIVO codes that OpenAI clients know by another name.
_CODES = {
    "invalid_request": "invalid_value",
    "unauthorized": "invalid_api_key",
    "forbidden": "insufficient_permissions",
    "rate_limited": "rate_limit_exceeded",
}
_TYPES = {"forbidden": "permission_error", "rate_limited": "rate_limit_error"}


class InvalidParameter(InvalidRequest):
    """A request field that the OpenAI routes refuse, named as the client spelled it."""

    status = 400

    def __init__(self, param: str, message: str, *, code: str = "invalid_value") -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.code = code  # already OpenAI's: `openai_error` passes it unchanged


def is_openai_route(path: str) -> bool:
    return OPENAI_ROUTE.search(path) is not None


def openai_error(
    status: int, code: str, message: str, param: str | None = None
) -> tuple[int, dict[str, Any]]:
    """The status and body of an AIVO error (its status, code and message) for an OpenAI
    client."""
    status = 400 if status == 422 else status  # OpenAI answers every invalid request 400
    kind = _TYPES.get(code) or ("server_error" if status >= 500 else "invalid_request_error")
    body = {"message": message, "type": kind, "param": param, "code": _CODES.get(code, code)}
    return status, {"error": body}
