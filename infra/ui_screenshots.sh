#!/usr/bin/env bash
# Headless screenshots of what a person opens after `make demo` (or a retraining run), to look at them as PNGs:
#
#   bash infra/ui_screenshots.sh [OUT_DIR]          # default reports/screenshots
#
# Needs Debian's Chromium (`apt-get install chromium`); run from the project directory.
#  * Data Docs (reports/data_docs/{pairs,splits}/index.html and the newest validation page of each) and the
#    `dvc plots show` page, opened from disk with every host name but 127.0.0.1 unresolvable: a page that still
#    needed a CDN would come out unstyled or empty;
#  * the MLflow UI (a server on 127.0.0.1 over mlruns/mlflow.db, or $MLFLOW_TRACKING_URI when it is an
#    http(s) server): the runs of every medfuse/<task> experiment, where tune trials show FINISHED (or KILLED
#    when ASHA pruned them), and the registered models page.
set -euo pipefail
out=${1:-reports/screenshots}
mkdir -p "$out"
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
  echo "ui_screenshots: error: chromium not found (apt-get install chromium)" >&2; exit 2
fi
py=${PYTHON:-.venv/bin/python}
profile=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill -- "-$server_pid" 2>/dev/null || true; rm -rf "$profile"; }
trap cleanup EXIT

shot() {  # shot URL PNG
  "$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$profile" \
    --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" --hide-scrollbars \
    --window-size=1500,1000 --virtual-time-budget=15000 --screenshot="$2" "$1" >/dev/null 2>&1
  echo "ui_screenshots: $2"
}

for table in pairs splits; do
  site=reports/data_docs/$table
  [ -f "$site/index.html" ] || continue
  shot "file://$PWD/$site/index.html" "$out/data_docs_${table}_index.png"
  page=$(ls -t $(find "$site/validations" -name '*.html') 2>/dev/null | head -n1 || true)
  [ -n "$page" ] && shot "file://$PWD/$page" "$out/data_docs_${table}_validation.png"
done

if [ -f dvc.yaml ] && [ -d reports/plots ]; then
  "$py" -m dvc plots show -o "$profile/dvc_plots" >/dev/null
  shot "file://$profile/dvc_plots/index.html" "$out/dvc_plots.png"
fi

uri=${MLFLOW_TRACKING_URI:-}
if [[ "$uri" != http* ]]; then
  [ -f mlruns/mlflow.db ] || { echo "ui_screenshots: no mlruns/mlflow.db: MLflow UI skipped"; exit 0; }
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false setsid "$py" -m mlflow server --backend-store-uri \
    "sqlite:///$PWD/mlruns/mlflow.db" --host 127.0.0.1 --port "$port" --workers 1 >"$profile/mlflow.log" 2>&1 &
  server_pid=$!
  uri=http://127.0.0.1:$port
  for _ in $(seq 60); do curl -sf "$uri/health" >/dev/null && break; sleep 1; done
fi
ids=$(MLFLOW_TRACKING_URI=$uri "$py" -c '
import mlflow
for e in mlflow.search_experiments(filter_string="name LIKE '"'"'medfuse/%'"'"'"):
    print(e.experiment_id, e.name.replace("/", "_"))')
while read -r id name; do
  [ -n "$id" ] && shot "$uri/#/experiments/$id" "$out/mlflow_${name}_runs.png"
done <<< "$ids"
shot "$uri/#/models" "$out/mlflow_models.png"
