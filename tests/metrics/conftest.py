import csv
import sys
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "fusion_metrics"
sys.path.insert(0, str(Path(__file__).resolve().parent))      # reference_impl


@pytest.fixture(scope="session")
def expected_rows():
    from pipelines.imaging.io import read_gray_255
    rows = list(csv.DictReader((DATA / "expected.csv").open()))
    out = []
    for r in rows:
        F = read_gray_255(DATA / f"{r['pair']}_F_{r['fusion']}.png").astype(np.float64)
        A = read_gray_255(DATA / f"{r['pair']}_A.png").astype(np.float64)
        B = read_gray_255(DATA / f"{r['pair']}_B.png").astype(np.float64)
        out.append((r, F, A, B))
    return out


def random_triplet(rng, shape=(64, 64)):
    """Smooth-ish integer images with flat zero background patches, like medical slices."""
    from scipy.ndimage import gaussian_filter
    imgs = []
    for _ in range(3):
        x = gaussian_filter(rng.random(shape) * 255, 1.5) * 3 - 200
        imgs.append(np.clip(np.round(x), 0, 255))
    return imgs
