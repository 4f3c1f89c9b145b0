"""ASGI middleware: request ids, keys before bodies, body size and read time, and per-route
metrics and logs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aivo.api.errors import aivo_error_response
from aivo.errors import AivoError, PayloadTooLarge, RequestTimeout
from aivo.observability import HTTP_ERRORS, HTTP_LATENCY, HTTP_REQUESTS, get_logger, log_event
from aivo.security.keys import KeyRing

log = get_logger("aivo.http")


class KeyMiddleware:
    """Authenticates a request to a keyed route from its headers, before any of its body is
    read: a client without a valid key can make the server neither read nor wait for a body.
    The principal is left in the request's state for the route's scope check."""

    def __init__(
        self, app: ASGIApp, keys: KeyRing, router: Router, keyed: Callable[[str], bool]
    ) -> None:
        self.app = app
        self.keys = keys
        self.router = router
        self.keyed = keyed  # by route template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._keyed(scope):
            header = dict(scope["headers"]).get(b"authorization")
            try:
                principal = self.keys.authenticate(header.decode("latin-1") if header else None)
            except AivoError as error:
                await aivo_error_response(error, path=scope["path"])(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _keyed(self, scope: Scope) -> bool:
        """Whether a route answers this method and path and needs a key (other requests get
        their 404 or 405 from the router)."""
        for route in self.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return self.keyed(getattr(route, "path", ""))
        return False


class BodyLimitMiddleware:
    """413 for a body over the limit, whether it declares its length or streams it; 408 for a
    body not sent within the read time (a slow client holds no replica slot for long).

    The body is read (bounded) before the app sees it, so the app never parses a partial body.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, read_timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._reject(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.read_timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            slow = RequestTimeout(f"the request body was not sent within {self.read_timeout_s} s")
            await aivo_error_response(slow, path=scope["path"])(scope, receive, send)
            return
        if body is None:
            await self._reject(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytearray | None:
        """The whole body; None once it is over the limit."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return body
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                return body

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
