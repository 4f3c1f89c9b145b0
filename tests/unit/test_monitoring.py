"""The dashboard and the alert rules read only series that exist: AIVO's as Ray exports the
metrics of aivo.metrics (`ray_` + a name in the registry), Serve's from metrics Ray defines
(tests/integration/test_monitoring.py scrapes both from a live graph), recording rules from
rules.yml."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import ray.serve
import yaml

import deployments.builder  # noqa: F401  (imports every module that defines a metric)
from aivo.infra.breaker import ProbingBreaker
from aivo.metrics import REGISTRY
from aivo.observability import LATENCY_BUCKETS
from deploy.render import RAYSERVICE
from tests.fixtures.monitoring import (
    DASHBOARD,
    PODMONITOR,
    RULES,
    dashboard_exprs,
    names_in,
    referenced,
    rules,
    series_names,
)


def test_expressions_are_parsed_into_the_names_they_read() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (route, le) (rate(aivo_http_request_duration_seconds"
        '_bucket{route=~"/v1/generate"}[5m]))) / aivo:requests:rate5m > 14.4 * 0.005'
    )
    assert names_in(expr) == {"aivo_http_request_duration_seconds_bucket", "aivo:requests:rate5m"}


def test_every_app_series_the_dashboard_and_rules_read_is_exported() -> None:
    exported = series_names(REGISTRY.collect())
    wanted = {n.removeprefix("ray_") for n in referenced() if n.startswith("ray_aivo_")}
    assert wanted and wanted <= exported, wanted - exported


def test_every_bucket_bound_they_read_is_one_the_exporters_write() -> None:
    exprs = dashboard_exprs() + [rule["expr"] for rule in rules()]
    bounds = set(re.findall(r'le="([^"]*)"', "\n".join(exprs)))
    assert bounds and bounds <= {str(float(b)) for b in LATENCY_BUCKETS}, bounds  # "10.0"


def test_every_serve_series_they_read_is_one_ray_serve_defines() -> None:
    source = "\n".join(
        p.read_text()
        for p in Path(ray.serve.__file__).parent.rglob("*.py")
        if "tests" not in p.parts
    )
    defined = set(re.findall(r'"(serve_[a-z_]+)"', source))
    wanted = {n for n in referenced() if n.startswith("ray_serve_")}
    assert wanted
    for name in wanted:
        base = re.sub(r"_(bucket|count|sum|total)$", "", name.removeprefix("ray_"))
        assert base in defined, name


def test_every_name_is_an_app_or_serve_series_or_a_recording_rule() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for name in referenced():
        assert name.startswith(("ray_aivo_", "ray_serve_")) or name in recorded, name


def test_the_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "aivo" and dashboard["title"] == "AIVO"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(
        p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"] if "targets" in p
    )
    assert len(dashboard_exprs()) >= 20


def test_the_rules_cover_the_slos_and_degraded_states() -> None:
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    assert {"AivoCacheDegraded", "AivoFallbackModelServing", "AivoNoReadyReplica"} <= set(alerts)
    for sli in ("errors", "slow"):
        fast = alerts["AivoAvailabilityFastBurn" if sli == "errors" else "AivoLatencyFastBurn"]
        # multi-window: each long window is paired with a short one
        assert f"aivo:slo_{sli}:ratio_rate1h" in fast["expr"]
        assert f"aivo:slo_{sli}:ratio_rate5m" in fast["expr"]
    assert all(rule["labels"]["severity"] in ("page", "ticket") for rule in alerts.values())


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    done = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_named_breaker_exports_whether_it_is_open() -> None:
    def open_now() -> float | None:
        return REGISTRY.get_sample_value("aivo_circuit_open", {"circuit": "test"})

    async def fail_then_recover() -> list[float | None]:
        down = True

        async def probe() -> None:
            if down:
                raise ConnectionError("still down")

        breaker = ProbingBreaker(1, 0.01, probe, name="test")
        seen = [open_now()]
        breaker.record_failure()
        seen.append(open_now())
        down = False
        while not breaker.closed:
            await asyncio.sleep(0.01)
        seen.append(open_now())
        return seen

    assert asyncio.run(fail_then_recover()) == [0, 1, 0]


def test_the_pod_monitor_scrapes_rays_metrics_port_and_drops_student_ids() -> None:
    monitor = yaml.safe_load(PODMONITOR.read_text())
    endpoints = {e["port"]: e for e in monitor["spec"]["podMetricsEndpoints"]}
    service = next(
        d for d in yaml.safe_load_all(RAYSERVICE.read_text()) if d["kind"] == "RayService"
    )
    cluster = service["spec"]["rayClusterConfig"]
    pods = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for pod in pods:  # every node's metrics agent: each exports its own replicas' metrics
        ports = {p["name"] for p in pod["template"]["spec"]["containers"][0]["ports"]}
        assert set(endpoints) == {"metrics"} <= ports
    drops = [r["regex"] for r in endpoints["metrics"]["metricRelabelings"] if r["action"] == "drop"]
    assert "ray_serve_registered_multiplexed_model_id" in drops
