"""Reference-exact fusion metrics (FUSION_METRICS.md): EN, SD, SF, AG, MI, SCD, VIF, Qabf, SSIM, CC, PSNR,
MSE as CDDFuse's ``utils/Evaluator.py`` computes them, plus Nabf, FMI (pixel, DCT, wavelet) and NRMSE.

All metric families are registered in :data:`METRICS` (one small module per family) and computed batched by
:func:`score_batch` with torch on the device of the inputs (numpy arrays or CPU/CUDA tensors); images are on
the reference scale (0-255 integers, single channel / BT.601 luma).
"""
from pipelines.metrics import (correlation, error, fmi, gradient, information, intensity,  # noqa: F401
                               ssim, vif)
from pipelines.metrics.arrays import fused_to_255, quantize_255, source_to_255  # noqa: F401
from pipelines.metrics.error import nrmse  # noqa: F401
from pipelines.metrics.registry import CORE_COLUMNS, METRICS, Metric  # noqa: F401
from pipelines.metrics.scoring import (aggregate, columns_for, metric_names, nan_notes,  # noqa: F401
                                       score_batch, score_pair)
