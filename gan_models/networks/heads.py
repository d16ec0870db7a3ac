"""Heads on a critic's feature vector φ (B, feature_dim) for the conditional / information-theoretic systems.

All heads output **logits** (GAN_NOTES §5.12: no softmax before cross-entropy).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_models.blocks.conv import LinearNormAct
from gan_models.blocks.norm_act import spectral_norm


class ClassHead(nn.Module):
    """AC-GAN auxiliary classifier (Odena et al., ICML 2017): a linear layer φ → K class logits."""
    augment_input = False          # reads feature vectors, never images: DiffAugment/ADA skip it

    def __init__(self, feature_dim: int, n_classes: int, sn: bool = False):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"a class head needs >= 2 classes, got {n_classes}")
        self.n_classes = n_classes
        self.fc = spectral_norm(nn.Linear(feature_dim, n_classes), sn)

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        return self.fc(phi)


class KPlusOneHead(nn.Module):
    """Semi-supervised critic (Salimans et al., NeurIPS 2016, Sec. 5): K class logits l_1..l_K, the fake
    class logit fixed to 0, so D(x) = Z/(Z+1) with Z = Σ_k exp(l_k).  :meth:`real_fake_logit` returns
    log Z = logsumexp(l), the logit of "real" under that parametrisation, which any adversarial loss can use."""
    augment_input = False          # reads feature vectors, never images: DiffAugment/ADA skip it

    def __init__(self, feature_dim: int, n_classes: int, sn: bool = False):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"a K+1 head needs >= 2 real classes, got {n_classes}")
        self.n_classes = n_classes
        self.fc = spectral_norm(nn.Linear(feature_dim, n_classes), sn)

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        return self.fc(phi)

    @staticmethod
    def real_fake_logit(class_logits: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(class_logits.float(), dim=1)


class QHead(nn.Module):
    """InfoGAN Q network head sharing D's trunk (Chen et al., NeurIPS 2016, App. C: FC-128, BN, LReLU, then
    the code outputs).  Returns ``(categorical logits list, continuous means (B, n_continuous))``; the
    continuous codes are modelled as factored Gaussians with unit variance (the InfoGAN MNIST setting; the
    log-likelihood is then −½‖c − μ‖² + const)."""
    augment_input = False          # reads feature vectors, never images: DiffAugment/ADA skip it

    def __init__(self, feature_dim: int, n_categorical: tuple[int, ...] | list[int] = (10,), n_continuous: int = 2,
                 hidden: int = 128, norm: str = "batch"):
        super().__init__()
        self.n_categorical = tuple(int(k) for k in n_categorical)
        self.n_continuous = int(n_continuous)
        if not self.n_categorical and self.n_continuous == 0:
            raise ValueError("InfoGAN needs at least one categorical or continuous code")
        self.body = LinearNormAct(feature_dim, hidden, norm=norm, act="lrelu")
        self.cat = nn.ModuleList(nn.Linear(hidden, k) for k in self.n_categorical)
        self.cont = nn.Linear(hidden, self.n_continuous) if self.n_continuous else None

    def forward(self, phi: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        h = self.body(phi)
        return [head(h) for head in self.cat], (self.cont(h) if self.cont is not None else None)
