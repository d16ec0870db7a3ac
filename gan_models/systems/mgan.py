"""MGAN (Hoang, Nguyen, Le, Phung, "MGAN: Training Generative Adversarial Nets with Multiple Generators",
ICLR 2018).

K generators, a discriminator D and a classifier C that shares D's trunk (all but the last layer).
min_{G,C} max_D  E_x log D(x) + E_{x~P_G} log(1 − D(x)) − β Σ_k π_k E_{x~P_{G_k}} log C_k(x), π_k = 1/K.
Following the authors' TensorFlow code (qhoangdl/MGAN ``models.py``): D and C are updated together on
``d_bin + d_mul`` (C's cross-entropy on the fakes, weight 1); the generators on ``g_bin + β·d_mul`` with the
non-saturating ``g_bin``; all generators **share every layer but the input layer** (each has its own input
linear layer + BatchNorm; the shared layers run once on the concatenated batch of all generators, so their
BatchNorm sees the mixture — the joint pass of ``TiedEnsemble``); ``same_input=True`` (every generator gets
the same z batch); Adam(2e-4, β1 0.5).
β: the code's CIFAR-10 default (``main.py --beta``) is **0.01** [V] — the default here; the class default in
``models.py`` is 1.0; the β the paper used for its synthetic 2-D experiment could not be re-read (set it
with ``beta``).  Phases ``[D(+C), G]``.
"""
from __future__ import annotations

from dataclasses import dataclass

from gan_models.networks.shared import all_but_first_layers
from gan_models.registry import SYSTEMS
from gan_models.systems.multi_generator import MultiGeneratorConfig, MultiGeneratorSystem


@dataclass
class MGANConfig(MultiGeneratorConfig):
    beta: float = 0.01
    same_input: bool = True


@SYSTEMS.register("mgan")
class MGAN(MultiGeneratorSystem):
    name = "mgan"
    config_cls = MGANConfig

    def shared_units(self, units, n):
        return all_but_first_layers(units, 1 if n is None else n)

    def generator_class_weight(self) -> float:
        return float(self.cfg.beta)
