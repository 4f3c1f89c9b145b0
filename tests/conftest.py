"""Shared fixtures: the real bundled model, a local Ray cluster with Serve, free ports."""

from __future__ import annotations

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


def pytest_configure(config: pytest.Config) -> None:
    """One secret per run for keyed pseudonyms and cache MACs, in the environment before any
    test starts a process (Ray clusters, servers, jobs inherit it)."""
    from support.secrets import development_secrets

    development_secrets()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `gpu` skip cleanly on machines without CUDA: the one way GPU tests skip."""
    import torch

    if torch.cuda.is_available():
        return
    no_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(no_gpu)


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
    from support.ray_cluster import serve_cluster

    with serve_cluster() as port:
        yield port


@pytest.fixture(scope="session")
def api_keys(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from support.keys import make_keys

    return make_keys(tmp_path_factory.mktemp("keys"))


pytest_plugins = [
    "support.redis_server",
    "support.s3_server",
    "support.leak_scan",
    "support.security_graph",
]
