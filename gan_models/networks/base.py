"""What every zoo network shares: the critic base class, size arithmetic and DCGAN initialisation.

Contract (docs/zoo.md §1): a generator maps ``z`` (B, latent_dim) to a sample and stays unconditional
(systems concatenate labels / codes to ``z``); a critic subclasses :class:`Critic`, implements ``trunk``
(and ``embed`` when flattening is not its feature map), and returns raw logits (B,).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from gan_models.blocks.norm_act import spectral_norm

Size = int | tuple[int, int] | list[int]


def size_pair(size: Size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) for s in size):
        return int(size[0]), int(size[1])
    raise ValueError(f"size must be an int or (H, W), got {size!r}")


def base_grid(size: Size, min_side: int = 4) -> tuple[int, int, int]:
    """Halve (H, W) while both stay even and the smaller side stays >= ``min_side``.

    Returns ``(h0, w0, n)`` with ``H = h0 * 2**n``: 64 -> (4, 4, 4) (DCGAN), 16 -> (4, 4, 2), 48x64 -> (6, 8, 3).
    Raises when not even one halving is possible (the networks need at least one up/down stage).
    """
    h, w = size_pair(size)
    n = 0
    while h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 >= min_side:
        h, w, n = h // 2, w // 2, n + 1
    if n == 0:
        hh, ww = size_pair(size)
        raise ValueError(f"size {hh}x{ww} cannot be halved to a grid with sides >= {min_side}: need even sides "
                         f">= {2 * min_side} (e.g. a power of 2 >= 8)")
    return h, w, n


def stage_widths(width: int, n: int, max_width: int) -> list[int]:
    """Channels at stages 0..n-1 of a critic (``width * 2**i`` capped at ``max_width``); a generator uses the
    reversed list (DCGAN 64x64, width 64: 64, 128, 256, 512)."""
    return [min(width * 2 ** i, max_width) for i in range(n)]


def _weight_tensor(m: nn.Module) -> torch.Tensor:
    if parametrize.is_parametrized(m, "weight"):
        return m.parametrizations.weight.original
    return m.weight


@torch.no_grad()
def dcgan_init_(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Radford et al. 2016: conv / linear weights ~ N(0, 0.02), biases 0; BatchNorm γ ~ N(1, 0.02), β = 0
    (PyTorch-GAN ``weights_init_normal``).  Spectrally normalised layers are initialised on the raw weight."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            _weight_tensor(m).normal_(0.0, std)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.normal_(1.0, std)
            m.bias.zero_()
    return module


class Critic(nn.Module):
    """Base class of every score critic: ``trunk`` → ``embed`` → linear head (+ projection term).

    ``forward(x, y=None)`` returns logits (B,).  With ``n_classes > 0`` the critic is a **projection
    discriminator** (Miyato & Koyama, ICLR 2018): ``ψ(φ(x)) + ⟨e(y), φ(x)⟩`` with a learned class
    embedding e (spectrally normalised when ``sn``, StudioGAN's SNEmbedding).
    """

    #: a differentiable input augmentation attached by ``gan_models.augment.attach`` (DiffAugment / ADA); applied
    #: at the entry of ``forward`` / ``forward_features`` in training mode only.  Not a submodule, not state.
    input_transform = None

    def __init__(self, feature_dim: int, n_classes: int = 0, sn: bool = False):
        super().__init__()
        self.feature_dim = int(feature_dim)
        self.n_classes = int(n_classes)
        self.head = spectral_norm(nn.Linear(self.feature_dim, 1), sn)
        self.projection = (spectral_norm(nn.Embedding(self.n_classes, self.feature_dim), sn)
                           if self.n_classes > 0 else None)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def embed(self, h: torch.Tensor) -> torch.Tensor:
        return h.flatten(1)

    def transform_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` through the attached augmentation in training mode (unchanged otherwise)."""
        t = self.input_transform
        return t(x) if (t is not None and self.training) else x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """φ(x) = embed(trunk(x)) with the attached augmentation (for critics whose score head was replaced)."""
        return self.embed(self.trunk(self.transform_input(x)))

    def forward_features(self, x: torch.Tensor, y: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits (B,), trunk output h, feature vector φ (B, feature_dim)); ``x`` goes through the attached
        augmentation first (training mode)."""
        x = self.transform_input(x)
        if self.head is None:
            raise RuntimeError(f"{type(self).__name__}'s score head was replaced by its system (K+1 head, joint "
                               "critic); call the system's critic, or trunk() / embed() for features")
        h = self.trunk(x)
        phi = self.embed(h)
        out = self.head(phi)
        out = out.squeeze(1) if out.dim() == 2 else out      # Linear head (B, 1); McGAN's head already (B,)
        if self.projection is not None:
            if y is None:
                raise ValueError(f"{type(self).__name__} is a projection critic over {self.n_classes} classes "
                                 "and needs labels y")
            out = out + (self.projection(y) * phi).sum(dim=1)
        elif y is not None:
            raise ValueError(f"{type(self).__name__} was built without classes (n_classes=0) but got labels y")
        return out, h, phi

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_features(x, y)[0]
