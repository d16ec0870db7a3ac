"""Static comparison charts (matplotlib): one panel per metric, the methods as a categorical axis, one bar each.

Static files (SVG with the text as paths, or PNG) render anywhere offline: in ``dvc plots show`` (image plots
need no Vega from a CDN), in MLflow's artifact viewer, in a Markdown report.  Every bar carries the SVG id
``bar:<metric>:<method>`` so tests (and people) can check the chart holds the numbers it claims; a method
without a finite value for a metric gets an "n/a" label instead of a bar, never a silent gap.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANEL_COLUMNS = 4


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def method_bars(values: Mapping[str, Mapping[str, float]], metrics: Sequence[str], path: str | Path,
                title: str = "", lower_is_better: Sequence[str] = (), highlight: Sequence[str] = ()) -> Path:
    """``values[method][metric]`` -> a grid of bar panels (one per metric, methods in the given order).

    ``lower_is_better`` metrics say so in their panel title; ``highlight`` methods (the model, the champion)
    are drawn in a stronger colour.  Raises ``ValueError`` when a metric has no finite value at all (a chart
    without data)."""
    methods = list(values)
    if not methods or not metrics:
        raise ValueError(f"{path}: nothing to chart ({len(methods)} methods, {len(metrics)} metrics)")
    empty = [m for m in metrics if not any(_finite(values[k].get(m)) for k in methods)]
    if empty:
        raise ValueError(f"{path}: no finite value for {empty} in any of {methods}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = min(PANEL_COLUMNS, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    width = max(2.2, 0.32 * len(methods) + 0.8)
    with plt.rc_context({"svg.fonttype": "path", "svg.hashsalt": "medfuse"}):
        fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 2.4 * rows + 0.5), squeeze=False)
        for ax, metric in zip(axes.flat, metrics):
            xs = range(len(methods))
            for x, method in zip(xs, methods):
                v = values[method].get(metric)
                if _finite(v):
                    (bar,) = ax.bar([x], [v], color="#c0392b" if method in highlight else "#5d7fa3")
                    bar.set_gid(f"bar:{metric}:{method}")
                else:
                    ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
            ax.set_xticks(list(xs), methods, rotation=60, ha="right", fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            ax.set_title(metric + (" (lower is better)" if metric in lower_is_better else ""), fontsize=8)
        for ax in list(axes.flat)[len(metrics):]:
            ax.set_visible(False)
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110, metadata={"Date": None} if path.suffix == ".svg" else None)
        plt.close(fig)
    return path
