"""Weight-first few-row products: the same numbers as nn.Linear, the same greedy answers on the
bundled model (fp32) in any batch shape, and only plain float layers switch."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from aivo.config import BUNDLED_MODEL, EngineConfig, ModelSpec
from aivo.engine.forward import decode_step, prefill
from aivo.engine.gathered_lora import gather_adapters
from aivo.engine.loader import LoadedModel
from aivo.engine.lora import BASE_ADAPTER
from aivo.engine.weight_first import (
    MAX_ROWS,
    WeightFirstLinear,
    load_for_serving,
    switchable_layers,
    use_weight_first,
    weight_first_wins,
)

QUESTIONS = ["What is 7 times 8?", "Why do leaves change color?", "Name three planets."]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "shape", [(1, 24), (3, 1, 24), (2, 5, 24), (MAX_ROWS, 24), (MAX_ROWS + 1, 24)]
)
def test_the_product_is_nn_linears(bias: bool, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    plain = nn.Linear(24, 40, bias=bias)
    switched = copy.deepcopy(plain)
    switched.__class__ = WeightFirstLinear
    x = torch.randn(*shape)
    got = switched(x)
    assert got.shape == (*shape[:-1], 40) and got.is_contiguous()
    torch.testing.assert_close(got, plain(x), rtol=1e-5, atol=1e-5)
    last = torch.randn(4, 3, 24)[:, -1:, :]  # a view, not contiguous
    torch.testing.assert_close(switched(last), plain(last), rtol=1e-5, atol=1e-5)


def test_bf16_with_a_bias_rounds_as_nn_linear_does() -> None:
    torch.manual_seed(0)
    plain = nn.Linear(64, 48).to(torch.bfloat16)
    switched = copy.deepcopy(plain)
    switched.__class__ = WeightFirstLinear
    x = torch.randn(5, 64, dtype=torch.bfloat16)
    assert torch.equal(switched(x), plain(x))


def test_weight_first_must_win_clearly() -> None:
    assert weight_first_wins({False: 0.2, True: 0.1})
    assert not weight_first_wins({False: 0.105, True: 0.1})  # a tie keeps nn.Linear
    assert not weight_first_wins({False: 0.1, True: 0.2})


def test_the_probe_decides_on_a_model_with_layers_of_two_dtypes() -> None:
    model = nn.Sequential(nn.Linear(32, 64), nn.Linear(64, 32).to(torch.float64))
    switched = use_weight_first(model, "auto")
    assert {type(m) for m in model} == {WeightFirstLinear if switched else nn.Linear}


def test_off_and_on_switch_only_plain_float_layers() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Embedding(10, 8), nn.Linear(8, 4))
    model.append(nn.Linear(4, 4).to(torch.float64))
    integer = nn.Linear(4, 4)
    integer.weight = nn.Parameter(torch.ones(4, 4, dtype=torch.int32), requires_grad=False)
    model.append(integer)
    assert use_weight_first(model, "on")
    switched = [WeightFirstLinear, nn.Embedding, WeightFirstLinear, WeightFirstLinear, nn.Linear]
    assert [type(m) for m in model] == switched
    assert not use_weight_first(model, "off")
    assert [type(m) for m in model if isinstance(m, nn.Linear)] == [nn.Linear] * 4
    assert len(switchable_layers(model)) == 3


def greedy(loaded: LoadedModel, prompts: list[list[int]], tokens: int) -> list[list[int]]:
    cache, logits = prefill(loaded.model, prompts, 0, loaded.device, [BASE_ADAPTER] * len(prompts))
    produced = []
    for _ in range(tokens):
        chosen = logits.argmax(-1, keepdim=True)
        produced.append(chosen)
        logits = decode_step(loaded.model, cache, chosen, [BASE_ADAPTER] * len(prompts))
    return torch.cat(produced, dim=1).tolist()


def test_greedy_answers_are_the_same_either_way_alone_and_batched(
    engine_config: EngineConfig,
) -> None:
    spec = ModelSpec(name=BUNDLED_MODEL, dtype="float32")
    answers = {}
    for setting in ("off", "on"):
        config = engine_config.model_copy(update={"weight_first_matmul": setting})
        served = gather_adapters(load_for_serving(spec, config))
        prompts = [served.chat_prompt_ids([{"role": "user", "content": q}]) for q in QUESTIONS]
        layers = switchable_layers(served.model)
        assert len(layers) == 211  # 30 layers x 7 projections, and the output layer
        assert {type(layer) for layer in layers} == {
            WeightFirstLinear if setting == "on" else nn.Linear
        }
        answers[setting] = greedy(served, prompts, 16)
        assert [greedy(served, [p], 16)[0] for p in prompts] == answers[setting]
    assert answers["on"] == answers["off"]
