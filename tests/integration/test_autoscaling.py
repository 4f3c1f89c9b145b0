"""Autoscaling, shown on a local cluster: load adds an inference replica, quiet removes it, and
no request fails or is lost while replicas start and stop (`python -m bench.autoscaling`
prints the same run's timeline)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from ray import serve

from aivo.config import parse_config
from bench.autoscaling import APP, AUTOSCALING, autoscaling_config, run_autoscaling
from deployments.builder import build_app
from support.keys import ApiKeys
from support.serving import wait_ready

pytestmark = pytest.mark.slow


def test_load_scales_inference_up_and_quiet_scales_it_down_losing_nothing(
    serve_port: int, api_keys: ApiKeys, tmp_path: Path
) -> None:
    config = parse_config(autoscaling_config(tmp_path / "adapters", api_keys.file))
    serve.run(build_app(config), name=APP, route_prefix="/")
    url = f"http://127.0.0.1:{serve_port}"
    try:
        with httpx.Client(base_url=url) as client:
            assert wait_ready(client).status_code == 200
        report = asyncio.run(
            run_autoscaling(url, api_keys.header(api_keys.app), clients=12, hold_s=5)
        )
    finally:
        serve.delete(APP)
    timeline = report.pop("timeline")
    assert timeline[0]["replicas"] == AUTOSCALING["min_replicas"], timeline[:3]
    assert report["max_replicas_under_load"] == AUTOSCALING["max_replicas"], report
    assert report["scaled_up_at_s"] is not None and report["scaled_down_at_s"] is not None
    assert report["replicas_at_end"] == AUTOSCALING["min_replicas"], report
    # Every request answered, in every phase: none failed or lost while replicas came and went.
    assert all(outcome.endswith(": answered") for outcome in report["requests"]), report
    assert report["requests"]["load: answered"] > 0
    assert report["requests"]["cooldown: answered"] > 0  # sent while the replica went away
