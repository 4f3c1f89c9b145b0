"""One graph for the security tests (streaming, limits, screening) over HTTP: the real bundled
model, small budgets, a short body read time, and a key (and tenant) per test area so budgets
never mix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from aivo.security.keys import new_key

TOKENS_PER_MINUTE = 400
BODY_READ_TIMEOUT_S = 2.0
AREAS = ("streaming", "budget", "dropped", "screening", "bodies")


@dataclass(frozen=True)
class SecurityGraph:
    url: str
    tokens: dict[str, str]  # area -> its API key (its own tenant; scope: generate)

    def client(self, area: str, timeout: float = 120) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[area]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


@pytest.fixture(scope="session")
def security_graph(
    serve_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecurityGraph]:
    from ray import serve

    from aivo.config import parse_config
    from deployments.builder import build_app
    from support.serving import wait_ready

    keys = {area: new_key(area, area, ["generate"]) for area in AREAS}  # budgets are per tenant
    file = tmp_path_factory.mktemp("security-keys") / "keys.json"
    file.write_text(json.dumps([entry.model_dump(mode="json") for _, entry in keys.values()]))
    config = parse_config(
        {
            "security": {
                "api_keys_file": str(file),
                "tokens_per_minute": TOKENS_PER_MINUTE,
                "requests_per_minute": 10_000,
                "body_read_timeout_s": BODY_READ_TIMEOUT_S,
            },
            # a busy shared CPU must not time a 90-token answer out
            "engine": {"request_timeout_s": 300},
            "storage": {"adapter_root": str(tmp_path_factory.mktemp("security-adapters"))},
            # Up for the whole session: small reservations leave a clone job's cloner (1 CPU)
            # room beside a cloning graph (CLONING_DEPLOYMENTS) on the 2-CPU test cluster.
            "deployments": {
                "ingress": {"num_cpus": 0.1},
                "preprocessor": {"num_cpus": 0.1},
                "inference": {"num_cpus": 0.2},
                "clone_coordinator": {"num_cpus": 0.05},
            },
        }
    )
    serve.run(build_app(config), name="security", route_prefix="/security")
    graph = SecurityGraph(
        f"http://127.0.0.1:{serve_port}/security", {area: t for area, (t, _) in keys.items()}
    )
    with graph.client("streaming") as c:
        assert wait_ready(c).status_code == 200
    yield graph
    serve.delete("security")
