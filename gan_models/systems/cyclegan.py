"""CycleGAN (Zhu, Park, Isola, Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", ICCV 2017).

L = L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A) + λ(‖G_BA(G_AB(a)) − a‖₁ + ‖G_AB(G_BA(b)) − b‖₁)
    + 0.5·λ(‖G_BA(a) − a‖₁ + ‖G_AB(b) − b‖₁)  (identity loss, Sec. 5.2 photo ↔ painting).
Constants (paper Sec. 4 / App. 7.1, reference code ``options``): λ = 10 (``lambda_A = lambda_B = 10``),
identity 0.5·λ (``lambda_identity = 0.5``), LSGAN objective, a **pool of the 50 previous fakes** per critic,
Adam(2e-4, β1 0.5), batch 1, constant lr for 100 epochs then linear decay to 0 over 100 (a scheduler concern
of the training loop), ResNet generator with 9 blocks at 256² (6 at 128²), 70×70 PatchGAN, InstanceNorm.
Phases ``[G_AB+G_BA, D_A, D_B]``.

LSGAN bookkeeping: ``losses.lsgan`` carries Mao et al.'s ½ factors.  Its critic loss ½E(D(x)−1)² + ½E D(x̃)²
is exactly CycleGAN's ``(loss_D_real + loss_D_fake) * 0.5``; CycleGAN's generator term is E(D(G(x))−1)²
without ½, so the preset sets ``gan_weight: 2`` to keep the paper's balance against λ = 10.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gan_models.registry import SYSTEMS
from gan_models.systems.cycle import CycleConfig, CycleSystem


@dataclass
class CycleGANConfig(CycleConfig):
    loss: Any = "lsgan"
    pool_size: int = 50
    identity: float = 0.5
    gan_weight: float = 2.0
    generator: dict[str, Any] = field(default_factory=lambda: {"name": "mlp"})


@SYSTEMS.register("cyclegan")
class CycleGAN(CycleSystem):
    name = "cyclegan"
    config_cls = CycleGANConfig
    order = "g_first"
