"""A tiny test-only fusion system ("toy_fusion", registered in SYSTEMS on import).

Used by the training/tracking tests so they do not depend on the paper presets' sizes.  G: 2 -> 1 channel
conv net with a sigmoid output; D: a 2-layer patch critic on B vs fused (FusionGAN's topology, one D);
G loss = adversarial + ``content_weight`` * L1(fused, max(A, B)).  The adversarial loss comes from LOSSES.
Named in ``plugins`` (``["toy_fusion"]``) so Ray workers and model loaders import it before building.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_models.losses.base import LossTerms, OptimizerSpec
from gan_models.registry import LOSSES, SYSTEMS
from gan_models.systems.base import GANSystem, Phase, make_optimizer


class ToyFusion(GANSystem):
    batch_keys = ("a", "b")

    def __init__(self, loss: str = "lsgan", width: int = 4, content_weight: float = 10.0, lr: float = 1e-3):
        super().__init__()
        import gan_models
        gan_models.load_all()
        self.loss = LOSSES.build(loss)
        self.content_weight = content_weight
        self.lr = lr
        self.generators["G"] = nn.Sequential(nn.Conv2d(2, width, 3, padding=1), nn.LeakyReLU(0.2),
                                             nn.Conv2d(width, 1, 3, padding=1), nn.Sigmoid())
        self.discriminators["D"] = nn.Sequential(nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
                                                 nn.Conv2d(width, 1, 4, 2, 1))

    def configure_optimizers(self):
        spec = OptimizerSpec("adam", self.lr, (0.5, 0.999))
        return {"G": make_optimizer(self.generators["G"].parameters(), spec),
                "D": make_optimizer(self.discriminators["D"].parameters(), spec)}

    def fuse(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.generators["G"](torch.cat([a, b], dim=1))

    def _d(self, batch, step):
        with torch.no_grad():
            fake = self.fuse(batch["a"], batch["b"])
        D = self.discriminators["D"]
        return self.loss.d_loss(D(batch["b"]), D(fake))

    def _g(self, batch, step):
        fake = self.fuse(batch["a"], batch["b"])
        adv = self.loss.g_loss(self.discriminators["D"](fake))
        content = (fake - torch.maximum(batch["a"], batch["b"])).abs().mean()
        return adv + LossTerms(self.content_weight * content, {"content": content})

    def phases(self):
        return [Phase("D", "D", self._d), Phase("G", "G", self._g)]


if "toy_fusion" not in SYSTEMS:
    SYSTEMS.register("toy_fusion")(ToyFusion)


from pipelines.training.objective import OBJECTIVES  # noqa: E402


def _toy_objective(fused, a, b):
    """Cheap test objective: negative mean absolute error to max(A, B) (closed form, no metric library)."""
    import numpy as np
    err = float(np.abs(fused - np.maximum(a, b)).mean())
    return {"score": -err, "l1_max": err}


if "toy_l1" not in OBJECTIVES:
    OBJECTIVES.register("toy_l1")(_toy_objective)


def crash_once(step, session, cfg) -> None:
    """Loop hook for the worker-failure test.  Rank 0 appends ``pid step`` to ``<sample_dir>/steps.log``; at
    step 4 of the first attempt rank 1 waits 5 s (so the controller has persisted the step-4 checkpoint:
    STACK_NOTES "checkpoint race") and kills its own process."""
    import os
    import time
    from pathlib import Path
    d = Path(cfg.sample_dir)
    d.mkdir(parents=True, exist_ok=True)
    if session.world_rank == 0:
        with open(d / "steps.log", "a") as fh:
            fh.write(f"{os.getpid()} {step}\n")
    marker = d / "crashed"
    if session.world_rank == 1 and step == 4 and not marker.exists():
        marker.write_text("x")
        time.sleep(5)
        os._exit(1)


def fail_at_3(step, session, cfg) -> None:
    """Loop hook: raise after step 3 (simulates a crash of an in-process training run)."""
    if step == 3:
        raise RuntimeError("simulated crash at step 3")
