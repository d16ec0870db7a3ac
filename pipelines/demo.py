"""`make demo`: run the whole DVC pipeline on the built-in phantom, then say where everything is.

Runs ``dvc repro`` (ingest -> register -> validate -> split -> tune -> train -> evaluate, as declared in
dvc.yaml) with telemetry off, and prints the report paths, the headline metrics and how to open the MLflow
UI (bound to 127.0.0.1).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pipelines.errors import command_entry


@command_entry("medfuse demo")
def main(argv: list[str] | None = None) -> int:
    root = Path.cwd()
    if not (root / "dvc.yaml").exists():
        print(f"{root}: no dvc.yaml here; run `make demo` from the project directory", file=sys.stderr)
        return 2
    t0 = time.time()
    env = dict(os.environ)
    # dvc.yaml stage commands call `python`: make it this interpreter (the project's .venv)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    print("medfuse demo: dvc repro (ingest -> register -> validate -> split -> tune -> train -> evaluate)",
          flush=True)
    rc = subprocess.call([sys.executable, "-m", "dvc", "repro"], env=env)
    if rc != 0:
        print(f"medfuse demo: dvc repro failed with exit code {rc}", file=sys.stderr)
        return rc
    took = time.time() - t0
    print(f"\nmedfuse demo: pipeline finished in {took:.0f} s\n")
    outputs = [
        ("pair table", "data/ingested/pairs.parquet"),
        ("quarantine", "data/ingested/quarantine.parquet"),
        ("registration report", "reports/registration.json"),
        ("data contracts", "reports/validation.json"),
        ("Data Docs (pairs)", "reports/data_docs/pairs/index.html"),
        ("Data Docs (splits)", "reports/data_docs/splits/index.html"),
        ("splits", "data/splits"),
        ("tuning result", "reports/tune.json"),
        ("trained model", "models/final"),
        ("evaluation report", "reports/eval.md"),
        ("figures", "reports/figures"),
        ("metrics", "metrics/eval.json"),
    ]
    for label, rel in outputs:
        p = root / rel
        mark = "" if p.exists() else "   (not produced)"
        print(f"  {label:<20} {p}{mark}")
    eval_json = root / "metrics/eval.json"
    if eval_json.exists():
        print("\nheadline (test split, mean per task):")
        data = json.loads(eval_json.read_text())
        print(json.dumps(data.get("summary", data), indent=2)[:3000])
    db = root / "mlruns" / "mlflow.db"
    print("\nMLflow UI (local only):\n"
          f"  .venv/bin/mlflow ui --backend-store-uri sqlite:///{db} --host 127.0.0.1 --port 5000\n"
          "  then open http://127.0.0.1:5000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
