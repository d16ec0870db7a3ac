"""Resampling is a convex combination of input pixels and the fill value: its output never leaves their range
(a float32 1.0000001 on a [0, 1] image fails the [0, 1] data contract downstream)."""
import numpy as np
import pytest

from pipelines.readers.resample import SquareResample


@pytest.mark.parametrize("shape,spacing,size", [((233, 197), (1.0, 1.0), 64), ((181, 217), (0.9, 1.3), 128),
                                                 ((256, 256), (1.0, 1.0), 100)])
def test_output_stays_in_input_range(shape, spacing, size):
    rng = np.random.default_rng(0)
    img = (rng.random(shape) > 0.5).astype(np.float32)          # saturated 0/1 pattern: worst case for round-off
    img[:, : shape[1] // 3] = 1.0
    out = SquareResample(shape[0], shape[1], spacing, size)(img)
    assert out.shape == (size, size)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.max() == pytest.approx(1.0, abs=1e-6)           # the flat bright band survives
