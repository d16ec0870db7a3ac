"""InfoGAN mutual-information term (Chen et al., NeurIPS 2016): L_I lower bound, returned as a loss.

L_info = λ_cat · Σ_codes CE(Q_logits, c_cat) + λ_cont · NLL(c_cont | Q_mean, Q_logvar).

* Categorical codes: cross-entropy **on logits** (the Q head must output logits; softmax before
  ``CrossEntropyLoss`` is the PyTorch-GAN/ACGAN mistake).  One logits tensor per categorical code.
* Continuous codes: factored Gaussian NLL when the Q head predicts a log-variance (the paper's
  parametrisation), else ``mse`` (PyTorch-GAN; equals the unit-variance Gaussian NLL up to ×2 and a constant).
* λ_cat = 1, λ_cont = 0.1 (paper Sec. 7 uses λ = 1 for discrete codes and smaller for continuous ones;
  0.1 as in PyTorch-GAN / StudioGAN configs).
* The loss must update **G and Q** (both the generator phase and the Q head's optimizer; StudioGAN adds Q's
  parameters to G's optimizer).  Nothing is rebuilt with ``torch.Tensor([...])`` (torchgan #100 detaches).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from gan_models.losses.base import LossTerms

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_nll(target: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean over samples of Σ_dims ½(log 2π + logvar + (c − μ)²/σ²)."""
    nll = 0.5 * (LOG_2PI + logvar + (target - mean).pow(2) * torch.exp(-logvar))
    return nll.reshape(nll.shape[0], -1).sum(dim=1).mean()


def infogan_mutual_information(cat_logits: Sequence[torch.Tensor] | torch.Tensor | None = None,
                               cat_codes: Sequence[torch.Tensor] | torch.Tensor | None = None,
                               cont_mean: torch.Tensor | None = None, cont_codes: torch.Tensor | None = None,
                               cont_logvar: torch.Tensor | None = None, *, lambda_cat: float = 1.0,
                               lambda_cont: float = 0.1) -> LossTerms:
    """InfoGAN information loss to minimise (negative MI lower bound up to the constant H(c))."""
    if isinstance(cat_logits, torch.Tensor):
        cat_logits = [cat_logits]
    if isinstance(cat_codes, torch.Tensor):
        cat_codes = [cat_codes]
    cat_logits, cat_codes = list(cat_logits or []), list(cat_codes or [])
    if len(cat_logits) != len(cat_codes):
        raise ValueError(f"{len(cat_logits)} categorical logit tensors but {len(cat_codes)} code tensors")
    if (cont_mean is None) != (cont_codes is None):
        raise ValueError("continuous codes need both the Q prediction (cont_mean) and the sampled codes")
    if not cat_logits and cont_mean is None:
        raise ValueError("infogan_mutual_information got neither categorical nor continuous codes")
    parts: dict[str, torch.Tensor] = {}
    total = None
    if cat_logits:
        ce = sum(F.cross_entropy(lg.float(), c.long()) for lg, c in zip(cat_logits, cat_codes))
        parts["mi_cat"] = ce
        total = lambda_cat * ce
    if cont_mean is not None:
        if cont_mean.shape != cont_codes.shape:
            raise ValueError(f"continuous prediction {tuple(cont_mean.shape)} and codes "
                             f"{tuple(cont_codes.shape)} differ in shape")
        if cont_logvar is not None:
            cont = gaussian_nll(cont_codes.float(), cont_mean.float(), cont_logvar.float())
        else:
            cont = F.mse_loss(cont_mean.float(), cont_codes.float())
        parts["mi_cont"] = cont
        total = lambda_cont * cont if total is None else total + lambda_cont * cont
    return LossTerms(total, parts)
