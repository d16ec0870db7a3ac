"""Encoders and auto-encoder critics: VAE-GAN / BiGAN encoders, EBGAN's and MMD-GAN's auto-encoder critics.

* :class:`ConvEncoder` (x → z): the DCGAN critic trunk, adaptive pooling to the design grid, and a linear map
  to ``latent_dim`` (or to (μ, log σ²) when ``variational``; Larsen et al. 2016's encoder uses 5x5 convs and
  an FC-2048 layer: here the DCGAN trunk is reused, a choice).
* :class:`AutoEncoderCritic`: fully convolutional Enc/Dec (DCGAN trunk down, transposed convs up, a 1x1
  conv to ``code_channels`` as the code, linear output).  It returns a :class:`CriticOutput` with
  ``embedding = features = flattened code`` (EBGAN pull-away term, MMD-GAN kernel features), ``recon`` and
  ``input``; in ``mode="energy"`` (EBGAN, Zhao et al. ICLR 2017) ``score`` is the per-sample reconstruction
  error ‖Dec(Enc(x)) − x‖² averaged over C, H, W (``energy_reduction="mean"``), summed (``"sum"``) or its L2
  norm (``"l2"``, EBGAN's D(x)); the ``ebgan`` loss recomputes its energy from ``recon`` / ``input`` with its own
  ``energy`` setting, so its margin always acts on the loss's scale (GAN_NOTES §5.3).  In ``mode="features"`` (MMD-GAN,
  Li et al. NeurIPS 2017) ``score`` is None.  The decoder is marked ``exempt_from_weight_clip`` (MMD-GAN clips
  only the encoder, official code).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gan_models.blocks.conv import ConvNormAct
from gan_models.blocks.norm_act import spectral_norm
from gan_models.losses.base import CriticOutput
from gan_models.networks.base import Size, base_grid, dcgan_init_, stage_widths
from gan_models.networks.dcgan import conv_trunk
from gan_models.networks.mlp import MLPGenerator, _shape
from gan_models.registry import DISCRIMINATORS


ENERGY_REDUCTIONS = ("mean", "sum", "l2")


class ConvEncoder(nn.Module):
    def __init__(self, in_channels: int = 1, latent_dim: int = 128, size: Size = 64, width: int = 64, *,
                 max_width: int = 512, norm: str = "batch", sn: bool = False, variational: bool = False,
                 init: bool = True):
        super().__init__()
        h0, w0, n = base_grid(size)
        widths = stage_widths(width, n, max_width)
        self.in_channels, self.latent_dim, self.variational, self.n_down = in_channels, latent_dim, variational, n
        self.trunk = conv_trunk(in_channels, widths, norm=norm, sn=sn)
        self.pool = nn.AdaptiveAvgPool2d((h0, w0))
        self.out = spectral_norm(nn.Linear(widths[-1] * h0 * w0, latent_dim * (2 if variational else 1)), sn)
        if init:
            dcgan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        stride = 2 ** self.n_down
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2] % stride or x.shape[3] % stride:
            raise ValueError(f"encoder expects (B, {self.in_channels}, H, W) with H, W divisible by {stride}, "
                             f"got {tuple(x.shape)}")
        z = self.out(self.pool(self.trunk(x)).flatten(1))
        if self.variational:
            mu, logvar = z.chunk(2, dim=1)
            return mu, logvar
        return z


class _Decoder(nn.Sequential):
    exempt_from_weight_clip = True


@DISCRIMINATORS.register("autoencoder")
class AutoEncoderCritic(nn.Module):
    MODES = ("energy", "features")

    def __init__(self, in_channels: int = 1, size: Size = 64, width: int = 64, *, max_width: int = 512,
                 code_channels: int | None = None, n_down: int | None = None, norm: str = "batch",
                 sn: bool = False, mode: str = "energy", energy_reduction: str = "mean", init: bool = True):
        super().__init__()
        _check_modes(mode, energy_reduction)
        n = base_grid(size)[2] if n_down is None else int(n_down)
        widths = stage_widths(width, n, max_width)
        code = widths[-1] if code_channels is None else int(code_channels)
        self.in_channels, self.n_down, self.mode, self.energy_reduction = in_channels, n, mode, energy_reduction
        self.encoder = nn.Sequential(conv_trunk(in_channels, widths, norm=norm, sn=sn),
                                     spectral_norm(nn.Conv2d(widths[-1], code, 1), sn))
        up = widths[::-1]
        layers: list[nn.Module] = [ConvNormAct(code, up[0], 1, norm=norm, act="relu", sn=sn)]
        for i in range(n):
            last = i == n - 1
            layers.append(ConvNormAct(up[i], in_channels if last else up[i + 1], 4, 2, 1, transposed=True, sn=sn,
                                      norm=None if last else norm, act=None if last else "relu",
                                      bias=True if last else None))
        self.decoder = _Decoder(*layers)
        if init:
            dcgan_init_(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> CriticOutput:
        if y is not None:
            raise ValueError("AutoEncoderCritic is unconditional; concatenate conditions to the input channels")
        stride = 2 ** self.n_down
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2] % stride or x.shape[3] % stride:
            raise ValueError(f"auto-encoder critic expects (B, {self.in_channels}, H, W) with H, W divisible by "
                             f"{stride}, got {tuple(x.shape)}")
        code = self.encoder(x)
        return autoencoder_output(x, code.flatten(1), self.decoder(code), self.mode, self.energy_reduction)


def _check_modes(mode: str, energy_reduction: str) -> None:
    if mode not in AutoEncoderCritic.MODES:
        raise ValueError(f"auto-encoder critic mode must be one of {AutoEncoderCritic.MODES}, got {mode!r}")
    if energy_reduction not in ENERGY_REDUCTIONS:
        raise ValueError(f"energy_reduction must be one of {ENERGY_REDUCTIONS}, got {energy_reduction!r}")


def autoencoder_output(x: torch.Tensor, code: torch.Tensor, recon: torch.Tensor, mode: str,
                       energy_reduction: str) -> CriticOutput:
    """The :class:`CriticOutput` of an auto-encoder critic: ``code`` (B, k) is the embedding and the kernel
    features; in ``mode="energy"`` the score is the per-sample reconstruction error: the squared error averaged
    (``"mean"``) or summed (``"sum"``) over the input's elements, or its L2 norm (``"l2"``, EBGAN's D(x)).
    The ``ebgan`` loss recomputes its energy from ``recon`` and ``input`` with its own ``energy`` setting; the
    system sets ``energy_reduction`` to match it, so the score (critic accuracy monitors) is on the same scale."""
    score = None
    if mode == "energy":
        sq = (recon - x).float().pow(2).flatten(1)
        if energy_reduction == "mean":
            score = sq.mean(dim=1)
        elif energy_reduction == "sum":
            score = sq.sum(dim=1)
        else:
            score = torch.sqrt(sq.sum(dim=1) + 1e-12)
    return CriticOutput(score=score, features=code, embedding=code, recon=recon, input=x)


@DISCRIMINATORS.register("mlp_autoencoder")
class MLPAutoEncoderCritic(nn.Module):
    """The auto-encoder critic for vector data (B, D): encoder D → ``width`` × ``depth`` → ``code_dim`` (linear
    code, no activation), decoder ``code_dim`` → ``width`` × ``depth`` → D (linear output), ReLU MLPs as the
    zoo's ``mlp`` networks.  Same outputs and modes as :class:`AutoEncoderCritic` (EBGAN energy, MMD-GAN
    features); the decoder is ``exempt_from_weight_clip`` (MMD-GAN clips the encoder only)."""

    def __init__(self, in_shape: Size = 2, width: int = 128, depth: int = 3, *, code_dim: int = 16,
                 act: str = "relu", norm: str = "none", sn: bool = False, mode: str = "energy",
                 energy_reduction: str = "mean", n_classes: int = 0):
        super().__init__()
        _check_modes(mode, energy_reduction)
        if n_classes:
            raise ValueError("the MLP auto-encoder critic is unconditional (n_classes must be 0)")
        if code_dim < 1:
            raise ValueError(f"code_dim must be >= 1, got {code_dim}")
        self.in_shape = _shape(in_shape, "in_shape")
        dim = math.prod(self.in_shape)
        self.mode, self.energy_reduction = mode, energy_reduction
        self.encoder = MLPGenerator(dim, code_dim, width, depth, act=act, norm=norm, sn=sn)
        self.decoder = _Decoder(MLPGenerator(code_dim, dim, width, depth, act=act, norm=norm, sn=sn))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> CriticOutput:
        if y is not None:
            raise ValueError("MLPAutoEncoderCritic is unconditional")
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"MLP auto-encoder critic expects (B, {', '.join(map(str, self.in_shape))}), "
                             f"got {tuple(x.shape)}")
        code = self.encoder(x.flatten(1))
        recon = self.decoder(code).reshape(x.shape)
        return autoencoder_output(x, code, recon, self.mode, self.energy_reduction)


def make_encoder(data_shape: tuple[int, ...], latent_dim: int, *, variational: bool = False,
                 **kwargs) -> nn.Module:
    """An encoder x → z for images ((C, H, W): :class:`ConvEncoder`) or vectors ((D,): the ``mlp`` generator
    network used as a map D → latent_dim, or 2·latent_dim for (μ, log σ²) when ``variational``)."""
    if len(data_shape) == 3:
        return ConvEncoder(data_shape[0], latent_dim, list(data_shape[1:]), variational=variational, **kwargs)
    from gan_models.registry import GENERATORS
    mlp = GENERATORS.get("mlp")(latent_dim=data_shape[0], out_shape=latent_dim * (2 if variational else 1),
                                **kwargs)
    return _VectorEncoder(mlp, variational)


class _VectorEncoder(nn.Module):
    def __init__(self, mlp: nn.Module, variational: bool):
        super().__init__()
        self.mlp, self.variational = mlp, variational

    def forward(self, x: torch.Tensor):
        z = self.mlp(x)
        return tuple(z.chunk(2, dim=1)) if self.variational else z
