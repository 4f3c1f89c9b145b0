from pathlib import Path

import pytest

from aivo.config import AppConfig, ConfigError, load_serve_config, parse_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_defaults_are_the_embedded_default() -> None:
    config = parse_config(None)
    assert config.engine.models[0].name == "bundled:smollm2-135m-instruct"
    assert config.cache.redis_url is None
    assert not config.storage.adapter_root.startswith("s3://")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"engine": {"modles": []}}, "engine.modles"),
        ({"cache": {"ttl_s": 0}}, "cache.ttl_s"),
        ({"engine": {"models": []}}, "engine.models"),
        ({"engine": {"models": [{"name": "x", "quantization": "int3"}]}}, "quantization"),
        ({"deployments": {"inference": {"num_cpus": -1}}}, "deployments.inference.num_cpus"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_config_names_the_key(args: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_config(args)


def test_duplicate_models_in_chain_refused() -> None:
    with pytest.raises(ConfigError, match="twice"):
        parse_config({"engine": {"models": [{"name": "a"}, {"name": "a"}]}})


@pytest.mark.parametrize("name", ["serve.yaml", "serve.gpu.yaml"])
def test_shipped_serve_configs_validate(name: str) -> None:
    config = load_serve_config(CONFIGS / name)
    assert isinstance(config, AppConfig)


def test_gpu_config_autoscales_every_deployment_and_puts_inference_on_a_gpu() -> None:
    config = load_serve_config(CONFIGS / "serve.gpu.yaml")
    for options in (
        config.deployments.ingress,
        config.deployments.preprocessor,
        config.deployments.inference,
    ):
        assert "autoscaling_config" in options.serve_options()
        assert "num_replicas" not in options.serve_options()
    assert config.deployments.inference.serve_options()["ray_actor_options"]["num_gpus"] == 1


def test_local_config_fits_two_cores() -> None:
    d = load_serve_config(CONFIGS / "serve.yaml").deployments
    reserved = [d.ingress, d.preprocessor, d.inference, d.clone_coordinator]
    assert sum(o.num_cpus for o in reserved) <= 1  # a core stays free for a clone's actor


def test_aivo_dtype_pins_what_auto_means(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIVO_DTYPE", "bfloat16")
    pinned = parse_config(
        {"engine": {"models": [{"name": "a"}, {"name": "b", "dtype": "float32"}]}}
    )
    assert [m.dtype for m in pinned.engine.models] == ["bfloat16", "float32"]
    monkeypatch.setenv("AIVO_DTYPE", "fp8")
    with pytest.raises(ConfigError, match="AIVO_DTYPE='fp8'"):
        parse_config(None)


@pytest.mark.parametrize("name", ["serve.yaml", "serve.gpu.yaml"])
def test_serves_proxy_ends_stalled_requests_after_generation_may(name: str) -> None:
    import yaml

    document = yaml.safe_load((CONFIGS / name).read_text())
    proxy_timeout = document["http_options"]["request_timeout_s"]
    assert load_serve_config(CONFIGS / name).engine.request_timeout_s < proxy_timeout <= 300
