"""MAD-GAN (Ghosh, Kulharia, Namboodiri, Torr, Dokania, "Multi-Agent Diverse Generative Adversarial Networks",
CVPR 2018).

k generators and one discriminator that is a (k+1)-way classifier (real, or which generator made the
sample).  D minimises the (k+1)-way cross-entropy; generator i minimises −log D_{k+1}(G_i(z)) (the
non-saturating form of its objective), i.e. only tries to look real — the D's need to tell the generators
apart is what pushes them to different modes.  The generators **share their early layers** (the paper ties
the initial layers' parameters; how many is not fixed by the paper — default here: every weight layer but
the last, ``shared_layers`` overrides).  Phases ``[D, G_1..G_k]`` (``g_update: per_generator``, the
default; one optimizer over all generator parameters, each phase backpropagates one generator's loss) or
``[D, G]`` (``joint``).  See :mod:`gan_models.systems.multi_generator` for the (k+1)-way critic
parametrisation that lets any score loss from ``LOSSES`` play the real/fake part.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gan_models.networks.shared import first_layers
from gan_models.registry import SYSTEMS
from gan_models.systems.multi_generator import MultiGeneratorConfig, MultiGeneratorSystem


@dataclass
class MADGANConfig(MultiGeneratorConfig):
    g_update: Literal["joint", "per_generator"] = "per_generator"


@SYSTEMS.register("mad_gan")
class MADGAN(MultiGeneratorSystem):
    name = "mad_gan"
    config_cls = MADGANConfig

    def shared_units(self, units, n):
        n_weight = sum(u.is_weight_layer for u in units)
        return first_layers(units, n_weight - 1 if n is None else n)

    def generator_class_weight(self) -> float:
        return 0.0
