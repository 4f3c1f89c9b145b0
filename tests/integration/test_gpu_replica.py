"""The inference replica on a GPU, with the reservation configs/serve.gpu.yaml asks for."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray
from ray import serve

from aivo.config import BUNDLED_MODEL, EngineConfig, load_serve_config, parse_config
from deployments.inference import InferenceReplica

pytestmark = [pytest.mark.gpu, pytest.mark.slow]
GPU_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "serve.gpu.yaml"


def test_the_replica_holds_the_gpu_that_serve_gpu_yaml_reserves(
    serve_port: int, engine_config: EngineConfig, tmp_path: Path
) -> None:
    gpu = load_serve_config(GPU_CONFIG)
    options = gpu.deployments.inference.serve_options()
    assert options["ray_actor_options"]["num_gpus"] == 1
    assert gpu.engine.device == "cuda"
    # The cluster's hub model and S3 store are swapped for the bundled model and a local folder
    # (nothing downloaded); the engine settings and the GPU reservation are the yaml's own.
    args = gpu.model_dump(mode="json")
    args["engine"]["models"] = [{"name": BUNDLED_MODEL}]
    args["engine"]["cache_dir"] = str(engine_config.cache_dir)
    args["storage"] = {"adapter_root": str(tmp_path / "adapters")}
    options["ray_actor_options"]["num_cpus"] = 1  # the test cluster has 2 CPUs, not a GPU node's
    replica = serve.deployment(InferenceReplica, name="InferenceReplica", **options)
    handle = serve.run(replica.bind(parse_config(args)), name="gpu-inference", route_prefix=None)
    try:
        messages = [{"role": "user", "content": "Name three planets."}]
        generation = handle.generate.remote(messages, 8, 0.0).result(timeout_s=300)
        # device: cuda loads only where Ray made a GPU visible (CUDA_VISIBLE_DEVICES)
        assert generation.completion.text.strip() and not generation.fallback_used
        held = ray.cluster_resources()["GPU"] - ray.available_resources().get("GPU", 0)
        assert held == 1
    finally:
        serve.delete("gpu-inference")
