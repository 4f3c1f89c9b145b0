"""ASGI middleware: request ids, body-size limit, and per-route metrics and logs."""

from __future__ import annotations

import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aivo.api.errors import aivo_error_response
from aivo.errors import PayloadTooLarge
from aivo.observability import HTTP_ERRORS, HTTP_LATENCY, HTTP_REQUESTS, get_logger, log_event

log = get_logger("aivo.http")


class BodyLimitMiddleware:
    """413 for a body over the limit, whether it declares its length or streams it.

    The body is read (bounded) before the app sees it, so the app never parses a partial body.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._reject(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._reject(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        too_large = PayloadTooLarge(f"request body is over {self.max_body_bytes} bytes")
        response = aivo_error_response(too_large, path=scope["path"])
        await response(scope, receive, send)


class ObservabilityMiddleware:
    """One request id per request (Serve's proxy sets it; we add it outside Serve); count,
    latency and one JSON log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id")
        request_id = given.decode() if given else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if not given:
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-request-id", request_id.encode()),
                    ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = _route_template(scope)
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(route=route, status=str(status)).inc()
            HTTP_LATENCY.labels(route=route).observe(elapsed)
            if status >= 400:
                HTTP_ERRORS.labels(route=route, status=str(status)).inc()
            log_event(
                log,
                "request",
                request_id=request_id,
                route=route,
                method=scope.get("method"),
                status=status,
                latency_ms=round(elapsed * 1000, 2),
            )


def _route_template(scope: Scope) -> str:
    # The route's template, never the raw path: paths carry student ids.
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
