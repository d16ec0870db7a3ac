"""Post-step critic constraints: WGAN weight clipping and Stiefel retraction (run after ``optimizer.step()``).

* :func:`clip_weights_` clamps every parameter of a critic to ``[-c, c]`` (Arjovsky et al. 2017, Alg. 1,
  c = 0.01), **after** each critic optimizer step.  Submodules with ``exempt_from_weight_clip = True`` are
  skipped with all their parameters: MMD-GAN clips only the encoder, never the decoder (official code
  ``netD.encoder.parameters()``); McGAN's covariance head keeps U, V on the Stiefel manifold instead.
* :func:`critic_post_step` = clipping + ``retract_()`` of every submodule that has one; it is what
  ``AdversarialLoss.after_critic_step`` runs, so systems never special-case a loss.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import torch
from torch import nn

EXEMPT_ATTR = "exempt_from_weight_clip"


def _modules(critic) -> list[nn.Module]:
    if critic is None:
        return []
    if isinstance(critic, nn.Module):
        return [getattr(critic, "module", critic)]          # DDP -> inner module
    return [getattr(m, "module", m) for m in critic]


def clippable_parameters(module: nn.Module) -> Iterator[nn.Parameter]:
    """Parameters of ``module`` outside submodules marked ``exempt_from_weight_clip = True``."""
    seen: set[int] = set()

    def walk(m: nn.Module) -> Iterator[nn.Parameter]:
        if getattr(m, EXEMPT_ATTR, False):
            return
        for p in m.parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                yield p
        for child in m.children():
            yield from walk(child)

    yield from walk(module)


@torch.no_grad()
def clip_weights_(module: nn.Module | Iterable[nn.Module], c: float) -> int:
    """Clamp the critic's parameters in place to ``[-c, c]``; returns how many tensors were clipped.

    Parametrised weights (spectral norm) are clipped on their stored original tensor.
    """
    if not c > 0:
        raise ValueError(f"weight clipping bound must be > 0, got {c}")
    n = 0
    for m in _modules(module):
        for p in clippable_parameters(m):
            p.clamp_(-c, c)
            n += 1
    return n


def critic_post_step(critic, clip: float | None = None) -> None:
    """Weight clipping (when ``clip``) then ``retract_()`` on every submodule that defines it."""
    mods = _modules(critic)
    if clip is not None:
        if not mods:
            raise ValueError("weight clipping requested but no critic module was given")
        clip_weights_(mods, clip)
    for m in mods:
        for sub in m.modules():
            retract = getattr(sub, "retract_", None)
            if callable(retract):
                retract()
