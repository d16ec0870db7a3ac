"""Published reference values (``published.yaml``) with their sources and protocols."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

PUBLISHED_FILE = Path(__file__).with_name("published.yaml")


@lru_cache(maxsize=1)
def load_published(path: str | Path = PUBLISHED_FILE) -> dict:
    data = yaml.safe_load(Path(path).read_text())
    for task, rows in data.get("values", {}).items():
        for r in rows:
            if r.get("source") not in data.get("sources", {}):
                raise ValueError(f"{path}: {task}/{r.get('method')} cites unknown source {r.get('source')!r}")
    return data


def published_rows(task: str) -> list[dict]:
    return [dict(r) for r in load_published().get("values", {}).get(task, [])]
