#!/usr/bin/env bash
# GPU check of the distributed training path: NCCL DDP (2 workers when 2+ GPUs, else 1), bf16 autocast,
# checkpoint + resume on GPU, steps/s.  Usage:
#   benchmarks/gpu_check.sh            # on a GPU machine (fails with exit 2 when no GPU is visible)
#   benchmarks/gpu_check.sh --cpu      # dry run on 2 CPU workers (gloo, no bf16): checks the script itself
# Extra flags go to benchmarks/gpu_check.py (--steps, --batch-size, --crop, --preset).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled RAY_TRAIN_ENABLE_PREEMPTION_WATCHER=0 \
       RAY_DEDUP_LOGS=1 MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
if [[ "${1:-}" != "--cpu" ]]; then
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader || true
fi
exec timeout 900 "$PY" benchmarks/gpu_check.py "$@"
