"""Scoring multi-resolution pairs (B at ``1/r`` of A, ``b_scale`` r > 1), as the DDcGAN authors evaluate.

The metrics compare F with A and B pixel by pixel, so B must be at F's (= A's) size.  A multi-resolution B is
brought there by **bicubic** upsampling (:func:`pipelines.imaging.multires.upsample_bicubic`: Keys' kernel
a = -0.5, MATLAB ``imresize``'s), and that upsampled B is

* the B every metric scores against (for every method alike),
* the B the classical baselines fuse (they have no low-resolution input),
* the B shown in the figures (with its Cb/Cr upsampled the same way);

while a trained model built for that r (a fuser marked by :func:`pipelines.fusers.native_b`) fuses the B as
stored, at ``1/r`` (a model built for another r, e.g. one trained on upsampled B, gets the upsampled B too).
:func:`scoring_view` gives the evaluate stage's task data in this form; :func:`protocol_lines` says it in the
report.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import numpy as np

from pipelines.imaging.multires import upsample_bicubic

METHOD = ("bicubic upsampling (Keys a = -0.5, pixel centres aligned, as MATLAB imresize, which the DDcGAN authors "
          "evaluated with), clipped to B's range")


def scoring_view(td: Any, b_scale: int) -> Any:
    """The evaluate stage's task data (a dataclass with ``a``, ``b``, ``b_cb``, ``b_cr``, ``b_native``,
    ``b_scale``) with ``b`` / ``b_cb`` / ``b_cr`` at A's size (bicubic) and the stored B kept as ``b_native``;
    unchanged when ``b_scale`` is 1."""
    if b_scale == 1:
        return td
    size = td.a.shape[-2:]

    def up(x: np.ndarray | None) -> np.ndarray | None:
        return None if x is None else upsample_bicubic(x, size)
    return replace(td, b=up(td.b), b_cb=up(td.b_cb), b_cr=up(td.b_cr), b_native=td.b, b_scale=b_scale)


def fuser_input_b(fuser: Callable, td: Any) -> np.ndarray:
    """The B ``fuser`` gets: the stored (native) B for a model built for the task's r, the scored B (at A's
    size) for everything else."""
    from pipelines.fusers import fuser_b_scale
    native = getattr(td, "b_native", None)
    return native if native is not None and fuser_b_scale(fuser) == td.b_scale else td.b


def protocol_lines(b_scales: dict[str, int]) -> list[str]:
    """The report's sentence on multi-resolution tasks (nothing when every task has B at A's size)."""
    multi = {t: r for t, r in sorted(b_scales.items()) if r > 1}
    if not multi:
        return []
    tasks = ", ".join(f"{t} (B at 1/{r} of A)" for t, r in multi.items())
    return [f"**Multi-resolution pairs.** {tasks}: a model trained for that r fuses B at its native resolution; "
            f"for scoring, for the classical baselines (and any other model) and in the figures B is brought to A's "
            f"size by {METHOD}.", ""]
