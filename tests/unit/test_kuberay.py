"""The KubeRay RayService: its embedded Serve config is configs/serve.gpu.yaml and loads with the
strict config; the cluster it describes can run that config (not applied here: no Kubernetes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray
import yaml

from aivo.config import parse_config
from deploy.render import GPU_CONFIG, RAYSERVICE, embed_serve_config
from deploy.render import main as render


def documents() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(RAYSERVICE.read_text())}


def rayservice() -> dict[str, Any]:
    return documents()["RayService"]


def test_the_embedded_serve_config_is_the_gpu_config_verbatim() -> None:
    assert rayservice()["spec"]["serveConfigV2"] == GPU_CONFIG.read_text()
    assert render(["rayservice", "--check"]) == 0


def test_the_embedded_serve_config_loads_with_the_strict_config() -> None:
    serve_config = yaml.safe_load(rayservice()["spec"]["serveConfigV2"])
    (application,) = serve_config["applications"]
    config = parse_config(application["args"])
    assert application["import_path"] == "deployments.builder:build_app"
    assert serve_config["http_options"]["host"] == "0.0.0.0"  # the serve Service reaches the proxy
    assert config.deployments.inference.num_gpus == 1


def test_render_replaces_only_the_block_and_check_reports_a_stale_manifest(tmp_path: Path) -> None:
    manifest = "spec:\n  serveConfigV2: |\n    old: 1\n\n    older: 2\n  rayClusterConfig: {}\n"
    rendered = embed_serve_config(manifest, "applications: []\n# note\n")
    assert (
        rendered
        == "spec:\n  serveConfigV2: |\n    applications: []\n    # note\n  rayClusterConfig: {}\n"
    )
    assert yaml.safe_load(rendered)["spec"]["serveConfigV2"] == "applications: []\n# note\n"


def test_a_cpu_head_and_an_autoscaling_gpu_worker_group() -> None:
    cluster = rayservice()["spec"]["rayClusterConfig"]
    assert rayservice()["apiVersion"] == "ray.io/v1"
    assert cluster["rayVersion"] == ray.__version__
    assert cluster["enableInTreeAutoscaling"] is True
    (head,) = cluster["headGroupSpec"]["template"]["spec"]["containers"]
    assert "nvidia.com/gpu" not in head["resources"]["limits"]
    (group,) = cluster["workerGroupSpecs"]
    assert group["minReplicas"] < group["maxReplicas"]
    (worker,) = group["template"]["spec"]["containers"]
    limits = worker["resources"]["limits"]
    # One inference replica (its num_gpus and num_cpus) fits on one worker.
    config = parse_config(yaml.safe_load(GPU_CONFIG.read_text())["applications"][0]["args"])
    inference = config.deployments.inference
    assert int(limits["nvidia.com/gpu"]) >= inference.num_gpus
    assert int(limits["cpu"]) >= inference.num_cpus
    assert head["image"].endswith(":cpu") and worker["image"].endswith(":gpu")


def test_the_dashboard_is_not_exposed() -> None:
    cluster = rayservice()["spec"]["rayClusterConfig"]
    head = cluster["headGroupSpec"]
    assert head["serviceType"] == "ClusterIP" and head["enableIngress"] is False
    # reachable in the pod network, so it asks for Ray's token (it can run code)
    assert cluster["authOptions"] == {"mode": "token"}
    assert "Ingress" not in documents()


def test_settings_come_from_the_configmap_and_secrets_the_config_expects() -> None:
    cluster = rayservice()["spec"]["rayClusterConfig"]
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [
        g["template"]["spec"] for g in cluster["workerGroupSpecs"]
    ]
    config = parse_config(yaml.safe_load(GPU_CONFIG.read_text())["applications"][0]["args"])
    keys_file = config.security.api_keys_file
    assert keys_file is not None
    for pod in pods:
        (container,) = pod["containers"]
        sources = container["envFrom"]
        assert {"configMapRef": {"name": documents()["ConfigMap"]["metadata"]["name"]}} in sources
        assert any(s.get("secretRef", {}).get("name") == "aivo-s3" for s in sources)
        (mount,) = container["volumeMounts"]
        (volume,) = pod["volumes"]
        assert mount["name"] == volume["name"] and mount["readOnly"] is True
        assert keys_file == Path(mount["mountPath"]) / volume["secret"]["items"][0]["path"]
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_upgrade_strategy_is_zero_downtime() -> None:
    assert rayservice()["spec"]["upgradeStrategy"]["type"] == "NewCluster"


def test_redis_and_the_service_secrets_come_from_required_secrets() -> None:
    cluster = rayservice()["spec"]["rayClusterConfig"]
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [
        g["template"]["spec"] for g in cluster["workerGroupSpecs"]
    ]
    for pod in pods:
        (container,) = pod["containers"]
        secrets = [s["secretRef"] for s in container["envFrom"] if "secretRef" in s]
        required = {s["name"] for s in secrets if not s.get("optional")}
        assert {"aivo-redis", "aivo-secrets"} <= required
    # nothing secret in the Serve config: the URL and the keys come from the environment
    config = parse_config(yaml.safe_load(GPU_CONFIG.read_text())["applications"][0]["args"])
    assert config.cache.redis_url is None
    assert "REDIS" not in str(documents()["ConfigMap"]["data"])
    assert (config.cache.mac_key.file, config.security.pseudonym_key.file) == (None, None)
