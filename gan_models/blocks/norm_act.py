"""Normalisation and activation layers by name, and the spectral-norm wrapper.

``make_norm(name, channels, dims)``: ``batch`` (BatchNorm), ``instance`` (InstanceNorm with a learned affine,
no running stats), ``group`` (GroupNorm with ``gcd(channels, 32)`` groups, Wu & He 2018's 32 groups when
the channel count allows), ``layer`` (normalises over C, H, W per sample: ``GroupNorm(1, C)`` for maps,
``LayerNorm(C)`` for vectors; the WGAN-GP paper's choice for critics) and ``none``.
``dims=1`` builds the vector (B, C) variants; ``instance`` has no meaning for vectors and raises.
"""
from __future__ import annotations

import math

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _torch_sn

NORMS = ("batch", "instance", "group", "layer", "none")
ACTIVATIONS = ("relu", "lrelu", "leaky_relu", "prelu", "elu", "gelu", "silu", "tanh", "sigmoid", "none")


def make_norm(name: str | None, channels: int, dims: int = 2) -> nn.Module:
    name = "none" if name is None else name
    if dims not in (1, 2):
        raise ValueError(f"norm dims must be 1 (vectors) or 2 (maps), got {dims}")
    if name == "none":
        return nn.Identity()
    if name == "batch":
        return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)
    if name == "instance":
        if dims == 1:
            raise ValueError("instance norm needs feature maps; use 'layer' or 'batch' for vectors")
        return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    if name == "group":
        groups = math.gcd(channels, 32)
        return nn.GroupNorm(groups, channels)           # works on (B, C) and (B, C, H, W)
    if name == "layer":
        return nn.GroupNorm(1, channels) if dims == 2 else nn.LayerNorm(channels)
    raise KeyError(f"unknown norm {name!r}; known: {list(NORMS)}")


def make_activation(name: str | None) -> nn.Module:
    name = "none" if name is None else name
    table = {
        "relu": lambda: nn.ReLU(inplace=False),
        "lrelu": lambda: nn.LeakyReLU(0.2),          # DCGAN / PatchGAN / ESRGAN slope
        "leaky_relu": lambda: nn.LeakyReLU(0.2),
        "prelu": nn.PReLU,
        "elu": nn.ELU,
        "gelu": nn.GELU,
        "silu": nn.SiLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "none": nn.Identity,
    }
    try:
        return table[name]()
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; known: {list(ACTIVATIONS)}") from None


def spectral_norm(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Spectral normalisation of one layer (Miyato et al. 2018) with PyTorch's parametrization.

    One power iteration per forward in training mode; u, v are buffers (saved in the state dict);
    eval mode reuses the stored vectors (GAN_NOTES §5.8).  ``enabled=False`` returns the module unchanged.
    """
    if not enabled:
        return module
    return _torch_sn(module, name="weight")
