"""Shared fixtures: the real bundled model, a local Ray cluster with Serve, free ports."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from aivo.config import BUNDLED_MODEL, DTYPE_ENV, EngineConfig, ModelSpec


def pytest_report_header() -> str:
    """`AIVO_DTYPE=bfloat16 make test` runs the suite with `dtype: auto` pinned to bf16."""
    import os

    from aivo.engine.device import pick_device, pick_dtype

    spec = ModelSpec(name=BUNDLED_MODEL)
    dtype = pick_dtype(spec.dtype, pick_device())
    return f"aivo: dtype auto -> {dtype} ({DTYPE_ENV}={os.environ.get(DTYPE_ENV, 'unset')})"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `gpu` skip cleanly on machines without CUDA: the one way GPU tests skip."""
    import torch

    if torch.cuda.is_available():
        return
    no_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(no_gpu)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def engine_config() -> EngineConfig:
    return EngineConfig(models=[ModelSpec(name=BUNDLED_MODEL)])


@pytest.fixture(scope="session")
def bundled_model(engine_config: EngineConfig):  # type: ignore[no-untyped-def]
    from aivo.engine.loader import load_model

    return load_model(engine_config.models[0], engine_config)


@pytest.fixture(scope="session")
def serve_port() -> Iterator[int]:
    """A local Ray cluster with Serve's HTTP proxy on a free loopback port; torn down after."""
    import ray
    from ray import serve

    port = free_port()
    # The dashboard carries the job API that clone requests submit to.
    ray.init(
        num_cpus=2,
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        dashboard_port=free_port(),
        log_to_driver=False,
    )
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        yield port
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="session")
def api_keys(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.fixtures.keys import make_keys

    return make_keys(tmp_path_factory.mktemp("keys"))


pytest_plugins = ["tests.fixtures.redis_server", "tests.fixtures.s3_server"]
