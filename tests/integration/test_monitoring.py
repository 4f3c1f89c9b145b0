"""Every series the dashboard and the alert rules read is exported by a live graph: AIVO's on the
ingress's /metrics, Serve's on Ray's metrics endpoint (what Prometheus scrapes on each node)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import ray
from prometheus_client.parser import text_string_to_metric_families
from ray import serve

from aivo.config import load_serve_config
from deployments.builder import build_app
from support.serving import wait_ready
from tests.fixtures.monitoring import referenced, series_names

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "serve.yaml"


def scrape(url: str) -> set[str]:
    return series_names(text_string_to_metric_families(httpx.get(url, timeout=30).text))


def test_the_dashboard_and_rules_read_only_series_a_live_graph_exports(serve_port: int) -> None:
    config = load_serve_config(CONFIG)
    serve.run(build_app(config), name="aivo", route_prefix="/")
    try:
        assert config.security.dev_key_file is not None
        key = config.security.dev_key_file.read_text().strip()
        base = f"http://127.0.0.1:{serve_port}"
        with httpx.Client(base_url=base, timeout=120) as client:
            assert wait_ready(client).status_code == 200
            r = client.post(
                "/v1/generate",
                json={"prompt": "What is a noun?", "grade_level": "2", "subject": "ela"}
                | {"max_tokens": 4},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert r.status_code == 200, r.text
        app = scrape(f"{base}/metrics")
        wanted_app = {n for n in referenced() if n.startswith("aivo_")}
        assert wanted_app <= app, wanted_app - app

        # Ray's agent publishes what replicas report every few seconds: wait for a full report.
        node = next(n for n in ray.nodes() if n["Alive"])
        ray_url = f"http://127.0.0.1:{node['MetricsExportPort']}/metrics"
        wanted_ray = {n for n in referenced() if n.startswith("ray_")}
        deadline = time.monotonic() + 120
        while not wanted_ray <= (exported := scrape(ray_url)) and time.monotonic() < deadline:
            time.sleep(3)
        assert wanted_ray <= exported, wanted_ray - exported
    finally:
        serve.delete("aivo")
