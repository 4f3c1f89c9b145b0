"""Optional error tracking with Sentry: on when SENTRY_DSN is set (and the `sentry` extra is
installed), off otherwise.

Every event leaves the process through `scrub`, which keeps what finds a bug (exception types,
stack frames, the component, the route) and drops what could identify a student or open an
account: request bodies, query strings and cookies, headers that carry keys, local variables,
free text (an exception's message or a log line can quote a prompt or an answer), extras, and
raw student ids (replaced by the pseudonym the logs use).
"""

from __future__ import annotations

import os
import re
from typing import Any, cast

from aivo.config import ConfigError
from aivo.observability import pseudonym

DSN_ENV = "SENTRY_DSN"
ENVIRONMENT_ENV = "SENTRY_ENVIRONMENT"
REDACTED = "[redacted]"
SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}
# A student id in a path (`/v1/students/s-123/clone`), not a route template's `{student_id}`.
STUDENT_IN_PATH = re.compile(r"(/students/)([^/?#{}]+)")
KEPT_BREADCRUMB_FIELDS = ("type", "category", "level", "timestamp")


def init_error_tracking(component: str) -> bool:
    """Sends this process's unhandled errors to Sentry when SENTRY_DSN is set; True if on."""
    dsn = os.environ.get(DSN_ENV)
    if not dsn:
        return False
    try:
        import sentry_sdk
    except ImportError:
        raise ConfigError(
            f"{DSN_ENV} is set but sentry-sdk is not installed: pip install 'aivo[sentry]'"
        ) from None
    sentry_sdk.init(
        dsn=dsn,
        environment=os.environ.get(ENVIRONMENT_ENV),
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=cast(Any, scrub),  # Sentry's Event is a TypedDict over this same dict
    )
    sentry_sdk.set_tag("component", component)
    return True


def _pseudonymous_path(url: str) -> str:
    return STUDENT_IN_PATH.sub(lambda m: m.group(1) + (pseudonym(m.group(2)) or ""), url)


def _without_vars(value: Any) -> Any:
    """The structure with every frame's local variables removed, however deeply nested."""
    if isinstance(value, dict):
        return {k: _without_vars(v) for k, v in value.items() if k != "vars"}
    if isinstance(value, list):
        return [_without_vars(v) for v in value]
    return value


def scrub(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's `before_send`: the event with no student data, keys or free text left."""
    event = _without_vars(event)
    for error in event.get("exception", {}).get("values", []):
        if error.get("value"):
            error["value"] = REDACTED
    for field in ("message", "logentry", "extra"):
        event.pop(field, None)
    user = event.pop("user", None) or {}
    if user.get("id"):  # how many students an error reaches, never who they are
        event["user"] = {"id": pseudonym(str(user["id"]))}
    request = event.get("request")
    if request is not None:
        headers = request.get("headers") or {}
        event["request"] = {
            "method": request.get("method"),
            "url": _pseudonymous_path(str(request.get("url", ""))).split("?")[0],
            "headers": {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS},
        }
    if event.get("transaction"):
        event["transaction"] = _pseudonymous_path(event["transaction"])
    tags = event.get("tags")
    if isinstance(tags, dict) and tags.get("student_id"):
        tags["student_id"] = pseudonym(str(tags["student_id"]))
    breadcrumbs = event.get("breadcrumbs", {})
    if breadcrumbs.get("values"):
        breadcrumbs["values"] = [
            {k: crumb[k] for k in KEPT_BREADCRUMB_FIELDS if k in crumb}
            for crumb in breadcrumbs["values"]
        ]
    return event
