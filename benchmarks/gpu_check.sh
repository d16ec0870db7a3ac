#!/usr/bin/env bash
# GPU checks, in three parts (each says PASS/FAIL; the exit code is non-zero if any part fails):
#   1. the CUDA tests: every zoo/fusion preset and topology steps on the GPU in float32 and bf16 autocast with
#      its state on the device, CUDA losses equal CPU losses, the 12 reference metrics on CUDA match
#      expected.csv (tests/gpu, tests/metrics);
#   2. benchmarks/metrics.py: the CUDA ms/pair of the full metric set and its agreement with the CPU values;
#   3. the Ray Train path (benchmarks/gpu_check.py): NCCL DDP (2 workers with 2+ GPUs, else 1), bf16 autocast,
#      checkpoint + resume on GPU, steps/s - skipped with a notice when Ray is not importable.
# Usage:
#   benchmarks/gpu_check.sh            # on a GPU machine (exit 2 when no GPU is visible)
#   benchmarks/gpu_check.sh --cpu      # dry run of part 3 on 2 CPU workers (gloo, no bf16)
# PYTHON=python3 selects another interpreter; OUT=dir puts the reports there (default reports/bench).
# Extra flags go to benchmarks/gpu_check.py (--steps, --batch-size, --crop, --preset).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
OUTDIR="${OUT:-reports/bench}"
export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled RAY_TRAIN_ENABLE_PREEMPTION_WATCHER=0 \
       RAY_DEDUP_LOGS=1 MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true PYTHONUNBUFFERED=1
if [[ "${1:-}" == "--cpu" ]]; then
  exec timeout 900 "$PY" benchmarks/gpu_check.py "$@"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.version.cuda); sys.exit(0 if torch.cuda.is_available() else 2)" \
  || { echo "gpu_check: no CUDA device visible" >&2; exit 2; }
mkdir -p "$OUTDIR"
status=0
part() { local name=$1; shift; echo "== $name"; if "$@"; then echo "PASS $name"; else echo "FAIL $name"; status=1; fi; }
part cuda-tests timeout 900 "$PY" -m pytest -q -p no:cacheprovider -rs tests/gpu tests/metrics/test_reference_values.py \
     tests/metrics/test_torch_inputs.py
part metrics-bench timeout 600 "$PY" benchmarks/metrics.py --pairs 16 --repeats 3 --out "$OUTDIR"
if "$PY" -c "import ray" 2>/dev/null; then
  part ray-train timeout 900 "$PY" benchmarks/gpu_check.py --out "$OUTDIR" "$@"
else
  echo "== ray-train: skipped (ray is not importable with $PY)"
fi
exit $status
