"""Few-row linear layers on CPU computed weight-first: (W xᵀ)ᵀ instead of nn.Linear's x Wᵀ.

Both are the same product. A decoding step multiplies a few rows (one per running request) by
every weight of the model, and for that shape the BLAS kernel chosen by the operand order
matters: on a 2-core AMD EPYC in fp32 (MKL), the bundled model's layers took 1.5-2.1x less time
weight-first at 2-64 rows, its 49,152-word output layer 1.7-3.4x less, the same at one row, and
more past about 100 rows (a prefill). Whether a machine gains is measured, not assumed: a probe
runs the model's own layers both ways when a replica loads it (`load_for_serving`, in the
loading thread), and layers switch only where it measures a clear gain. Only plain nn.Linear
layers with float weights on CPU switch; 4-bit layers and GPUs keep their own kernels. The
reference paths (PEFT's, training) load with `load_model` and keep nn.Linear.
"""

from __future__ import annotations

import math
import time
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from aivo.config import EngineConfig, ModelSpec
from aivo.engine.loader import LoadedModel, load_model
from aivo.observability import get_logger, log_event

log = get_logger("aivo.engine")

MAX_ROWS = 64  # past this a layer runs nn.Linear's own product (a prefill's many rows)
PROBE_ROWS = (4, 16)  # decoding batches: a few requests, and the default max_batch_size
MIN_SPEEDUP = 1.1  # the probe's margin: a tie keeps nn.Linear

Setting = Literal["auto", "on", "off"]


class WeightFirstLinear(nn.Linear):
    """nn.Linear whose inputs of at most MAX_ROWS rows are multiplied weight-first."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        if rows > MAX_ROWS or x.shape[-1] != self.in_features:  # (a wrong width: its error)
            return F.linear(x, self.weight, self.bias)
        columns = x.reshape(rows, self.in_features).t()
        if self.bias is None:
            product = torch.mm(self.weight, columns)
        else:  # one rounding, as F.linear's (a separate add rounds twice in bf16)
            product = torch.addmm(self.bias.unsqueeze(1), self.weight, columns)
        return product.t().contiguous().view(*x.shape[:-1], self.out_features)


def switchable_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's plain float nn.Linear layers on CPU (exactly nn.Linear: not 4-bit ones)."""
    return [
        module
        for module in model.modules()
        if isinstance(module, nn.Linear)
        and type(module) in (nn.Linear, WeightFirstLinear)
        and module.weight.device.type == "cpu"
        and module.weight.is_floating_point()
    ]


def set_weight_first(layers: list[nn.Linear], on: bool) -> None:
    for layer in layers:
        layer.__class__ = WeightFirstLinear if on else nn.Linear


@torch.inference_mode()
def probe_seconds(layers: list[nn.Linear], rounds: int = 2) -> dict[bool, float]:
    """The fastest of `rounds` passes of PROBE_ROWS rows through every layer, each way; the two
    take turns, so other load on the machine weighs on both alike. Every layer's weight is read
    once a pass, as in a decoding step, so the timing includes streaming it from memory."""
    inputs = {
        (rows, layer.in_features, layer.weight.dtype): torch.randn(
            rows, layer.in_features, dtype=layer.weight.dtype
        )
        for rows in PROBE_ROWS
        for layer in layers
    }
    best = {False: math.inf, True: math.inf}
    for _ in range(rounds + 1):  # one more: the first round also warms the kernels
        for weight_first in (False, True):
            set_weight_first(layers, weight_first)
            started = time.perf_counter()
            for rows in PROBE_ROWS:
                for layer in layers:
                    layer(inputs[rows, layer.in_features, layer.weight.dtype])
            best[weight_first] = min(best[weight_first], time.perf_counter() - started)
    return best


def weight_first_wins(seconds: dict[bool, float]) -> bool:
    """The probe's verdict: weight-first at least MIN_SPEEDUP times as fast."""
    return seconds[False] > MIN_SPEEDUP * seconds[True]


def use_weight_first(model: nn.Module, setting: Setting = "auto") -> bool:
    """Switch the model's few-row products to weight-first: "on", "off", or "auto" (where the
    probe, about a second for the bundled model here, measures a gain; it reads every weight 12
    times, so a larger model takes longer). True when they switched."""
    layers = switchable_layers(model)
    if setting == "off" or not layers:
        set_weight_first(layers, False)
        return False
    on = setting == "on" or weight_first_wins(probe_seconds(layers))
    set_weight_first(layers, on)
    return on


def load_for_serving(spec: ModelSpec, config: EngineConfig) -> LoadedModel:
    """`load_model`, then the few-row products weight-first as `engine.weight_first_matmul`
    says: a replica's loader, so the probe runs where loading does, off the event loop."""
    loaded = load_model(spec, config)
    on = use_weight_first(loaded.model, config.weight_first_matmul)
    log_event(log, "weight-first products", model=spec.name, on=on)
    return loaded
