"""Tiny configurations of the single-pair systems for CPU tests (16x16 images, batch 4, width-4 nets)."""
import torch

import gan_models
from gan_models.registry import SYSTEMS

gan_models.load_all()

SINGLE_PAIR = ("sgsd", "cgan", "acgan", "ssgan", "infogan", "vaegan", "bigan", "ebgan")
N_CLASSES = 3
SHAPE = (1, 16, 16)


def tiny_kwargs(system: str, loss) -> dict:
    kw = {"loss": loss, "data_shape": list(SHAPE), "latent_dim": 6, "generator": {"width": 4}}
    loss_obj = SYSTEMS.get(system).check_loss(loss)
    if loss_obj.uses_discriminator:
        kw["discriminator"] = {"width": 4}
        if loss_obj.critic_output in ("energy",) or getattr(loss_obj, "lambda_ae", 0):
            kw["discriminator"]["code_channels"] = 2
    if system in ("cgan", "acgan", "ssgan"):
        kw["n_classes"] = N_CLASSES
    if system == "infogan":
        kw.update(n_categorical=[3], n_continuous=2, q_hidden=8)
    if system in ("vaegan", "bigan"):
        kw["encoder"] = {"width": 4}
    if system == "bigan":
        kw["joint_hidden"] = 8
    return kw


def one_critic_step(loss: str):
    """``loss`` with n_critic 1 when its paper default is more (the schedule has its own test): fast steps."""
    from gan_models.registry import LOSSES
    return {"name": loss, "n_critic": 1} if LOSSES.get(loss)().n_critic > 1 else loss


def build(system: str, loss, **over):
    kw = tiny_kwargs(system, loss)
    kw.update(over)
    return SYSTEMS.get(system)(**kw).setup()


def batch(seed: int = 0, n: int = 4, unlabelled: bool = False) -> dict:
    g = torch.Generator().manual_seed(1000 + seed)
    y = torch.randint(0, N_CLASSES, (n,), generator=g)
    if unlabelled:
        y[::2] = -1
    return {"x": torch.rand(n, *SHAPE, generator=g) * 2 - 1, "y": y}


def single_thread():
    """Generator for a module-scoped fixture: tiny nets run fastest on one intra-op thread (no contention on a
    shared CPU); the previous thread count is restored after the module."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
