"""The one decision every system makes about its critic's normalisation.

Rules (GAN_NOTES §5.5, §5.8):

* ``requested=None`` ("auto"): ``"batch"`` (DCGAN) for losses that allow BatchNorm; ``"layer"`` for losses
  whose ``critic_norm == "none"`` (the GP family: WGAN-GP, WGAN-LP, WGAN-div, whose penalties are defined
  per sample, which BatchNorm breaks; layer norm is the WGAN-GP paper's own choice, Gulrajani et al. 2017
  Sec. 4); ``"none"`` when the critic is spectrally normalised (SNGAN/SAGAN critics have no normalisation).
* An explicit ``"batch"`` with a GP-family loss, or with spectral norm, raises ``ValueError``.
* Any explicit ``layer`` / ``instance`` / ``group`` / ``none`` is honoured.
"""
from __future__ import annotations

from typing import Any

from gan_models.blocks.norm_act import NORMS


def resolve_critic_norm(loss: Any, requested: str | None = None, *, sn: bool = False,
                        extra_regularizers: tuple = ()) -> str:
    """The norm a critic for ``loss`` gets (see the module docstring).

    ``extra_regularizers``: names (or (name, params) pairs) of gradient penalties a preset adds on top of the
    loss's own; any of them forbids BatchNorm like a GP-family loss does.
    """
    names = {r[0] if isinstance(r, (tuple, list)) else r for r in extra_regularizers}
    no_batch = getattr(loss, "critic_norm", "batch") == "none" or bool(names & PER_SAMPLE_PENALTIES)
    if requested is None:
        if sn:
            return "none"
        return "layer" if no_batch else "batch"
    if requested not in NORMS:
        raise KeyError(f"unknown critic norm {requested!r}; known: {list(NORMS)}")
    if requested == "batch" and no_batch:
        raise ValueError(f"{type(loss).__name__} needs a critic without BatchNorm (per-sample gradient penalty); "
                         "use norm 'layer', 'instance', 'group' or 'none'")
    if requested == "batch" and sn:
        raise ValueError("do not combine spectral norm with BatchNorm in the critic (GAN_NOTES §5.8); "
                         "use norm 'none'")
    return requested


#: regularizers defined per sample (a BatchNorm critic mixes samples and breaks them)
PER_SAMPLE_PENALTIES = frozenset({"gradient_penalty", "lipschitz_penalty", "wgan_div_penalty", "r1", "dragan"})
