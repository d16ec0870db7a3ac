"""DualGAN (Yi, Zhang, Tan, Gong, "DualGAN: Unsupervised Dual Learning for Image-to-Image Translation",
ICCV 2017).

Two translators and two critics trained with the **WGAN loss and weight clipping** (paper Sec. 3, "we use
the loss format advocated by Wasserstein GAN"), L1 reconstruction in both directions:
l_g = λ_U‖u − G_B(G_A(u))‖₁ + λ_V‖v − G_A(G_B(v))‖₁ − D_V(G_A(u)) − D_U(G_B(v)).
Training (paper Sec. 4 / Algorithm 1): RMSProp, lr 5e-5, n_critic critic steps per generator step,
clipping c, U-Net generators (pix2pix) and 70×70 PatchGAN-style critics.
Constants: the paper reports per-dataset ranges — λ_U, λ_V in [100, 1000], n_critic 2-4, c in [0.01, 0.1],
batch 1-4 [P, ranges as recalled, not re-read]; the default here is λ = 100, n_critic = 2, c = 0.01 (the
WGAN loss's constant).  The authors' released TF code (duxingren14/DualGAN ``model.py``, checked) later
switched to sigmoid cross-entropy with λ = 20, RMSProp(5e-5, decay 0.9) and one critic step then two
generator steps: use ``loss: nonsaturating, lambda_a: 20, lambda_b: 20, g_repeats: 2`` to reproduce it.
Phases ``[D_A, D_B, G]`` (critic first, Algorithm 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gan_models.registry import SYSTEMS
from gan_models.systems.cycle import CycleConfig, CycleSystem


@dataclass
class DualGANConfig(CycleConfig):
    loss: Any = field(default_factory=lambda: {"name": "wgan", "n_critic": 2})
    lambda_a: float = 100.0
    lambda_b: float = 100.0


@SYSTEMS.register("dualgan")
class DualGAN(CycleSystem):
    name = "dualgan"
    config_cls = DualGANConfig
    order = "d_first"
