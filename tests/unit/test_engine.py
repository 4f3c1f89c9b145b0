"""The engine against the real bundled model."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from aivo.config import BUNDLED_MODEL, EngineConfig, ModelSpec
from aivo.engine.device import (
    cpu_has_native_bf16,
    cpu_runs_bf16_faster,
    matmul_seconds,
    pick_device,
    pick_dtype,
)
from aivo.engine.fallback import ModelBreaker, ModelChain
from aivo.engine.loader import LoadedModel, load_model
from aivo.errors import ModelUnavailable
from tests.fixtures.answering import answer

MESSAGES = [
    {"role": "system", "content": "You are a patient tutor for a grade 3 student."},
    {"role": "user", "content": "What do plants need to grow?"},
]


@pytest.fixture(scope="module")
def own_model(engine_config: EngineConfig) -> LoadedModel:
    """A model of this module's own: the generation path wraps it for adapters in place."""
    return load_model(engine_config.models[0], engine_config)


def test_greedy_answer_is_real_and_deterministic(own_model: LoadedModel) -> None:
    first = answer(own_model, MESSAGES, max_tokens=24, temperature=0.0)
    second = answer(own_model, MESSAGES, max_tokens=24, temperature=0.0)
    assert first.text.strip()
    assert first == second
    assert first.prompt_tokens > 10
    assert 0 < first.completion_tokens <= 24


def test_max_tokens_bounds_the_answer(own_model: LoadedModel) -> None:
    short = answer(own_model, MESSAGES, max_tokens=3, temperature=0.0)
    assert short.completion_tokens == 3
    assert short.finish_reason == "length"


def test_sampling_uses_temperature(own_model: LoadedModel) -> None:
    texts = {answer(own_model, MESSAGES, 12, temperature=1.5).text for _ in range(3)}
    assert len(texts) > 1


def test_a_vanishing_temperature_decodes_greedily(own_model: LoadedModel) -> None:
    # 1e-300 once overflowed logits / temperature to inf and failed the request (a fuzz find)
    tiny = answer(own_model, MESSAGES, 8, temperature=1e-300)
    assert tiny.text == answer(own_model, MESSAGES, 8, temperature=0.0).text


def test_chat_template_is_the_models_own(bundled_model) -> None:  # type: ignore[no-untyped-def]
    text = bundled_model.tokenizer.decode(bundled_model.chat_prompt_ids(MESSAGES))
    assert "<|im_start|>system" in text and text.rstrip().endswith("<|im_start|>assistant")


def test_broken_first_model_falls_back_to_the_next(tmp_path: Path, engine_config) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    config = EngineConfig(
        models=[ModelSpec(name=str(broken)), ModelSpec(name=BUNDLED_MODEL)],
        cache_dir=engine_config.cache_dir,
    )
    chain = ModelChain(config)
    assert chain.pick().name == BUNDLED_MODEL
    assert chain.status()["fallback_used"] is True
    assert str(broken) in chain.failures
    assert answer(chain.pick(), MESSAGES, 4, 0.0).completion_tokens > 0


def test_no_loadable_model_is_a_clear_503(tmp_path: Path) -> None:
    chain = ModelChain(EngineConfig(models=[ModelSpec(name=str(tmp_path / "missing"))]))
    assert chain.status()["ready"] is False
    with pytest.raises(ModelUnavailable, match="retry later") as caught:
        chain.pick()
    assert caught.value.status == 503
    assert "missing" not in caught.value.message  # which model failed, and why, is only logged


def test_nf4_quantised_model_loads_and_answers(engine_config) -> None:  # type: ignore[no-untyped-def]
    spec = ModelSpec(name=BUNDLED_MODEL, quantization="nf4")
    chain = ModelChain(EngineConfig(models=[spec], cache_dir=engine_config.cache_dir))
    loaded = chain.pick()
    assert loaded.quantization == "nf4"
    assert any("4bit" in type(m).__name__ for m in loaded.model.modules())
    assert answer(loaded, MESSAGES, 8, 0.0).text.strip()


def test_device_and_dtype_choice() -> None:
    device = pick_device("auto")
    assert device.type in {"cuda", "mps", "cpu"}
    assert pick_dtype("float32", device) == torch.float32
    assert pick_dtype("auto", torch.device("cpu")) in {torch.bfloat16, torch.float32}


def test_auto_picks_bf16_on_cpu_only_where_native_and_measured_faster() -> None:
    seconds = matmul_seconds([torch.bfloat16, torch.float32], rounds=2)
    assert set(seconds) == {torch.bfloat16, torch.float32}
    assert all(0 < s < 1 for s in seconds.values())
    chosen = pick_dtype("auto", torch.device("cpu"))
    assert chosen == pick_dtype("auto", torch.device("cpu"))  # measured once per process
    assert (chosen == torch.bfloat16) == cpu_runs_bf16_faster()
    if not cpu_has_native_bf16():
        assert chosen == torch.float32


@pytest.mark.slow
def test_bundled_conversion_is_safe_with_two_processes_at_once(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path;"
        "from aivo.engine.bundled import bundled_model_folder;"
        f"print(bundled_model_folder('{BUNDLED_MODEL}', Path(sys.argv[1])))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs[0] == outputs[1]
    folder = Path(outputs[0])
    assert (folder / "model.safetensors").stat().st_size > 100_000_000
    assert sorted(p.name for p in folder.parent.iterdir() if not p.name.startswith(".")) == [
        folder.name
    ]


def test_breaker_opens_after_repeated_failures_and_a_trial_closes_it() -> None:
    breaker = ModelBreaker(failures=2, reset_s=0.05)
    breaker.record_failure()
    assert breaker.admits()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.admits()
    time.sleep(0.06)
    assert breaker.state == "half_open" and breaker.admits()
    breaker.record_failure()  # the trial failed: open again
    assert breaker.state == "open"
    time.sleep(0.06)
    breaker.record_success()
    assert breaker.state == "closed"
