"""Image grids for reports (matplotlib, Agg backend): one row per pair, columns A | B | each method."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def image_grid(rows: Sequence[Sequence[np.ndarray]], col_titles: Sequence[str], row_titles: Sequence[str],
               path: str | Path, cell_inches: float = 1.6, title: str | None = None) -> Path:
    """Save a grid; each image is (H, W) grey or (H, W, 3) RGB in [0, 1]."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_r, n_c = len(rows), len(col_titles)
    fig, axes = plt.subplots(n_r, n_c, figsize=(cell_inches * n_c, cell_inches * n_r + 0.4), squeeze=False)
    for i, row in enumerate(rows):
        if len(row) != n_c:
            raise ValueError(f"grid row {i} has {len(row)} images, expected {n_c}")
        for j, img in enumerate(row):
            ax = axes[i][j]
            img = np.clip(np.asarray(img, dtype=np.float64), 0, 1)
            ax.imshow(img, cmap=None if img.ndim == 3 else "gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col_titles[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(row_titles[i], fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
