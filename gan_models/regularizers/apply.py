"""One entry point for systems: add a loss's default regularizers to the critic loss."""
from __future__ import annotations

from typing import Any, Iterable

import torch

from gan_models.losses.base import AdversarialLoss, LossTerms
from gan_models.registry import REGULARIZERS


def apply_regularizers(loss: AdversarialLoss, critic, real: torch.Tensor, fake: torch.Tensor, *,
                       extra: Iterable[tuple[str, dict[str, Any]]] = (),
                       critic_kwargs: dict[str, Any] | None = None) -> LossTerms:
    """Sum of ``loss.default_regularizers`` plus ``extra`` evaluated on (critic, real, fake).

    Returns a zero :class:`LossTerms` when there is nothing to apply, so systems can always write
    ``terms = loss.d_loss(r, f) + apply_regularizers(loss, D, real, fake.detach())``.
    Part names are prefixed ``reg/``.  ``critic_kwargs`` (e.g. ``{"y": labels}``) are passed to every critic
    call of every penalty (the real batch's labels, GAN_NOTES §5.5.5).
    """
    specs = list(loss.default_regularizers) + list(extra)
    total = LossTerms(torch.zeros((), device=real.device))
    for name, params in specs:
        fn = REGULARIZERS.get(name)
        t = fn(critic, real, fake, critic_kwargs=critic_kwargs, **params)
        total = total + LossTerms(t.total, {f"reg/{k}": v for k, v in t.parts.items()})
    return total
