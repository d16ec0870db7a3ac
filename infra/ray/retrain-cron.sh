#!/usr/bin/env bash
# Scheduled retraining on a `ray up` cluster (infra/ray/cluster.yaml): submits the retraining job to the head.
# Run it from cron or a systemd timer on the head host, e.g. Sundays 02:00 UTC:
#   0 2 * * 0  /opt/medfuse/infra/ray/retrain-cron.sh >> /var/log/medfuse-retrain.log 2>&1
# Settings come from $MEDFUSE_RETRAIN_ENV (default /etc/medfuse/retrain.env, KEY=VALUE lines):
#   MLFLOW_TRACKING_URI   required: the team's MLflow server (cron starts with an empty environment, so
#                         without it every run would log to a throw-away sqlite file inside the container)
#   RAY_ADDRESS           the head's job server (default http://127.0.0.1:8265)
#   MEDFUSE_DATASET       the DVC-tracked folder to train on (default datasets/harvard)
#   MEDFUSE_SOURCE_KIND   its reader: aanlib (default) | nifti | dicom
#   MEDFUSE_STORAGE       train.resources.storage_path (default s3://medfuse-ray/runs)
#   AWS_ENDPOINT_URL, MLFLOW_S3_ENDPOINT_URL   the S3-compatible store (MinIO...) when not AWS
# S3 credentials are not passed here: the nodes get them from the docker --env-file in cluster.yaml.
set -euo pipefail
env_file=${MEDFUSE_RETRAIN_ENV:-/etc/medfuse/retrain.env}
if [ -f "$env_file" ]; then set -a; . "$env_file"; set +a; fi
if [ -z "${MLFLOW_TRACKING_URI:-}" ]; then
  echo "retrain-cron: error: MLFLOW_TRACKING_URI is not set (put it in $env_file)" >&2
  exit 2
fi
export MLFLOW_TRACKING_URI
address=${RAY_ADDRESS:-http://127.0.0.1:8265}
dataset=${MEDFUSE_DATASET:-datasets/harvard}
kind=${MEDFUSE_SOURCE_KIND:-aanlib}
storage=${MEDFUSE_STORAGE:-s3://medfuse-ray/runs}
runtime_env=$(python3 -c 'import json, os; keys = ("MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL"); print(json.dumps({"env_vars": {k: os.environ[k] for k in keys if os.environ.get(k)}}))')
exec ray job submit --address "$address" --submission-id "medfuse-retrain-$(date -u +%Y%m%dT%H%M%SZ)" \
  --runtime-env-json "$runtime_env" -- \
  bash -c "cd /home/ray/medfuse && python -m pipelines.retrain --dvc-pull --set data.source.kind=$kind --set data.source.path=$dataset --set train.resources.ray_address=auto --set train.resources.storage_path=$storage"
