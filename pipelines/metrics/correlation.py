"""Correlation metrics: SCD (Aslantas & Bendes 2015, sum of correlations of differences) and CC.

Both use the Pearson correlation over all pixels.  SCD = corr(A, F-B) + corr(B, F-A) is NaN when F equals a
source (F-B constant gives 0/0); the reference does not guard it and neither do we: the NaN is returned per
image and :func:`pipelines.metrics.scoring.aggregate` counts it explicitly (``SCD_nan_count``).
"""
from __future__ import annotations

from pipelines.metrics.batch import Triplet
from pipelines.metrics.moments import A_, B_, F_, F_MINUS_A, F_MINUS_B, pixel_moments
from pipelines.metrics.registry import metric


@metric("SCD", parts=("SCD_A", "SCD_B"),
        reference="corr(F-B, A) + corr(F-A, B), Pearson; NaN when F equals a source")
def scd(batch: Triplet):
    m = pixel_moments(batch)
    sa = m.corr(A_, F_MINUS_B)
    sb = m.corr(B_, F_MINUS_A)
    return {"SCD": sa + sb, "SCD_A": sa, "SCD_B": sb}


@metric("CC", parts=("CC_A", "CC_B"), reference="(corr(A, F) + corr(B, F)) / 2, Pearson")
def cc(batch: Triplet):
    m = pixel_moments(batch)
    ca = m.corr(A_, F_)
    cb = m.corr(B_, F_)
    return {"CC": (ca + cb) / 2, "CC_A": ca, "CC_B": cb}
