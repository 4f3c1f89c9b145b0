"""Calls between deployments that survive a replica's crash.

When a replica's process dies, the calls it was serving fail with Ray's actor errors and Serve's
controller starts a replacement. The calls the ingress makes to the preprocessor and the
inference replicas have no side effects (prepare, generate, finish, status), so they are retried:
Serve's router stops choosing the dead replica and holds the retry until a live one takes it.
Past the retries the caller gets a 503 it can retry, never a 500 or silence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ray.exceptions import RayActorError
from ray.serve.exceptions import DeploymentUnavailableError, ReplicaUnavailableError

from aivo.errors import ServiceUnavailable
from aivo.observability import UPSTREAM_RETRIES, get_logger, log_event

CRASHES = (RayActorError, ReplicaUnavailableError, DeploymentUnavailableError)
ATTEMPTS = 3
BACKOFF_S = 0.25
RETRY_AFTER_S = 2.0

log = get_logger("aivo.calls")


async def call(method: Any, *args: Any) -> Any:
    """`await method.remote(*args)` on a deployment handle's method, retried after a crash."""
    for attempt in range(ATTEMPTS):
        try:
            return await method.remote(*args)
        except CRASHES as error:
            await retry_or_give_up(method, attempt, error)
    raise AssertionError("unreachable: the last attempt raises")


async def retry_or_give_up(
    method: Any, attempt: int, error: BaseException, *, retryable: bool = True
) -> None:
    """Wait before attempt `attempt + 1`, or raise ServiceUnavailable after the last one (or
    at once when the call cannot be repeated)."""
    deployment = getattr(method, "deployment_name", "unknown")
    log_event(
        log,
        "replica crashed under a call",
        deployment=deployment,
        attempt=attempt + 1,
        error=type(error).__name__,
    )
    if not retryable or attempt + 1 >= ATTEMPTS:
        raise ServiceUnavailable(
            f"{deployment} is restarting; retry shortly", retry_after_s=RETRY_AFTER_S
        ) from None
    UPSTREAM_RETRIES.labels(deployment=deployment).inc()
    await asyncio.sleep(BACKOFF_S * 2**attempt)


async def stream(method: Any, *args: Any) -> AsyncIterator[Any]:
    """The items of a streaming call on a deployment handle's method (`stream=True`). Retried
    after a crash only before its first item: once the client has text, it cannot be taken back."""
    for attempt in range(ATTEMPTS):
        started = ended = False
        response = method.remote(*args)
        try:
            async for item in response:
                started = True
                yield item
            ended = True
            return
        except CRASHES as error:
            ended = True
            await retry_or_give_up(method, attempt, error, retryable=not started)
        finally:
            if not ended:  # the caller stopped reading: stop the generation it was reading
                response.cancel()
