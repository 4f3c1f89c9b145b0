"""Server-sent events of a streamed answer, and the per-key cap on open streams."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aivo.errors import RateLimited


def event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def parse_event(text: str) -> tuple[str, dict[str, Any]]:
    """An event as `event` wrote it: its name and data."""
    name, data = text.rstrip("\n").split("\n")
    return name.removeprefix("event: "), json.loads(data.removeprefix("data: "))


class StreamSlots:
    """Open streams per tenant (of the API key), on this replica."""

    def __init__(self, max_per_key: int) -> None:
        self.max_per_key = max_per_key
        self.open: dict[str, int] = {}

    def take(self, tenant: str) -> Callable[[], None]:
        """Counts a stream against its tenant's cap from the moment it is asked for (so a burst
        cannot slip past the check); returns its release, which is safe to call twice."""
        open_streams = self.open.get(tenant, 0)
        if open_streams >= self.max_per_key:
            raise RateLimited(
                f"this API key's tenant already has {open_streams} streams open; "
                "retry when one ends",
                retry_after_s=1,
            )
        self.open[tenant] = open_streams + 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.open[tenant] -= 1

        return release
