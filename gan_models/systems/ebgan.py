"""EBGAN (Zhao, Mathieu & LeCun, ICLR 2017) as a system: one G against an auto-encoder energy critic."""
from __future__ import annotations

from typing import Any

from gan_models.registry import SYSTEMS
from gan_models.systems.single_pair import SinglePairSystem


@SYSTEMS.register("ebgan")
class EBGANSystem(SinglePairSystem):
    """The critic is an auto-encoder (``autoencoder`` network, ``mode="energy"``) returning
    ``CriticOutput(score=energy, recon, input, embedding=encoder code)``; the energy is the per-sample
    reconstruction error, D minimises E[D(x)] + E[max(0, m − D(x̃))] and G minimises E[D(x̃)] + λ_PT·f_PT on the
    encoder embedding of the fakes (both inside the ``ebgan`` loss).  Only losses whose critic output is an
    energy are compatible (``critic_output == "energy"``)."""
    name = "ebgan"
    critic_outputs = ("energy",)
    allows_no_discriminator = False

    def __init__(self, loss="ebgan", **kw: Any):
        super().__init__(loss, **kw)
