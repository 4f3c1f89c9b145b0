#!/usr/bin/env bash
# The GPU check, one command on a machine with one CUDA GPU and `make setup` done with a CUDA torch
# (nothing is installed or downloaded here): the `gpu` tests, then bench.batching on CUDA in bf16
# and in nf4 (bf16 compute), then a short table last. Each step has a time limit; 7.5 minutes at most.
#
#     bench/gpu_check.sh            (PYTHON=... to use another interpreter than .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
STUDENTS="${STUDENTS:-256}"

fail() { echo "gpu_check: $*" >&2; exit 2; }
[ -x "$PYTHON" ] || fail "$PYTHON is missing: run make setup (with a CUDA torch) first"
"$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' \
  || fail "torch sees no CUDA device here; this check needs one GPU (CPU figures: python -m bench.batching)"

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_NO_INDEX=1  # never reach the network
results=bench/results
echo "gpu_check: the gpu-marked tests" >&2
timeout 150 "$PYTHON" -m pytest -m gpu -q -p no:warnings tests
for variant in "bfloat16 none bf16" "bfloat16 nf4 nf4"; do
  read -r dtype quantization name <<<"$variant"
  echo "gpu_check: bench.batching on cuda, $name" >&2
  timeout 140 "$PYTHON" -m bench.batching --device cuda --dtype "$dtype" \
    --quantization "$quantization" --students "$STUDENTS" --result-name "batching-cuda-$name" \
    >/dev/null
done
"$PYTHON" -m bench.gpu_table "$results/batching-cuda-bf16.json" "$results/batching-cuda-nf4.json"
