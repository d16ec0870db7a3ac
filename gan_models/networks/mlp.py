"""Multi-layer perceptrons: generators and critics for 2-D toy data and flat vectors (or small images).

The toy-mixture literature uses small fully connected nets: Metz et al. 2017 (unrolled GAN) and VEEGAN
(Srivastava et al. 2017) two or three hidden ReLU layers of 128-400 units for G and a similar critic; PacGAN's
released configs (fjxmlzn/PacGAN ``synthetic_data_experiments``) G 400 units ReLU, D 200 units.  Defaults
here: three hidden layers of 128 units (ReLU in G, LeakyReLU 0.2 in the critic), linear output (the toy
data are unbounded), PyTorch's default initialisation.

* :class:`MLPGenerator` ``(latent_dim) -> out_shape``: also a vector-to-vector translator (CycleGAN and
  friends on vectors: ``latent_dim`` = the input dimension).  ``out_shape`` may be an int or a shape such as
  ``[1, 8, 8]`` (the output is reshaped; ``out_act="tanh"`` for images in [-1, 1]).
* :class:`MLPDiscriminator` is a :class:`~gan_models.networks.base.Critic` (so projection conditioning,
  ``forward_features`` and the aux heads work on it): inputs of any shape ``(B, *in_shape)`` are flattened.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from gan_models.blocks.conv import LinearNormAct
from gan_models.blocks.norm_act import make_activation, spectral_norm
from gan_models.networks.base import Critic
from gan_models.registry import DISCRIMINATORS, GENERATORS

Shape = int | Sequence[int]


def _shape(shape: Shape, what: str) -> tuple[int, ...]:
    out = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if not out or any(s < 1 for s in out):
        raise ValueError(f"{what} must be a positive int or a shape of positive ints, got {shape!r}")
    return out


def _check_layers(width: int, depth: int) -> None:
    if width < 1 or depth < 1:
        raise ValueError(f"an MLP needs width >= 1 and depth >= 1 hidden layers, got width={width}, depth={depth}")


@GENERATORS.register("mlp")
class MLPGenerator(nn.Module):
    """``depth`` hidden layers linear → norm → act of ``width`` units, then a linear output layer."""

    def __init__(self, latent_dim: int = 2, out_shape: Shape = 2, width: int = 128, depth: int = 3, *,
                 act: str = "relu", norm: str = "none", sn: bool = False, out_act: str = "none"):
        super().__init__()
        _check_layers(width, depth)
        self.latent_dim = int(latent_dim)
        self.out_shape = _shape(out_shape, "out_shape")
        dims = [self.latent_dim] + [width] * depth
        self.body = nn.Sequential(*[LinearNormAct(dims[i], dims[i + 1], norm=norm, act=act, sn=sn)
                                    for i in range(depth)])
        self.out = spectral_norm(nn.Linear(width, math.prod(self.out_shape)), sn)
        self.out_act = make_activation(out_act)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"MLP generator expects (B, {self.latent_dim}), got {tuple(z.shape)}")
        x = self.out_act(self.out(self.body(z)))
        return x.reshape(z.shape[0], *self.out_shape)


@DISCRIMINATORS.register("mlp")
class MLPDiscriminator(Critic):
    """``depth`` hidden layers of ``width`` units; φ(x) is the last hidden layer (``feature_dim = width``).

    ``norm``: ``none`` (default), ``layer`` (GP family) or ``batch`` (systems resolve it with
    ``resolve_critic_norm``); ``sn`` spectrally normalises every linear layer (SNGAN-style critic).
    ``dropout`` after each hidden activation (0 = off).
    """

    def __init__(self, in_shape: Shape = 2, width: int = 128, depth: int = 3, *, act: str = "lrelu",
                 norm: str = "none", sn: bool = False, n_classes: int = 0, dropout: float = 0.0):
        super().__init__(feature_dim=width, n_classes=n_classes, sn=sn)
        _check_layers(width, depth)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_shape = _shape(in_shape, "in_shape")
        dims = [math.prod(self.in_shape)] + [width] * depth
        layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(LinearNormAct(dims[i], dims[i + 1], norm=norm, act=act, sn=sn))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.body = nn.Sequential(*layers)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"MLP critic expects (B, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        return self.body(x.flatten(1))
