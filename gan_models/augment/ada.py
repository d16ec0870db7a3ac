"""ADA: adaptive discriminator augmentation (Karras, Aittala, Hellsten, Laine, Lehtinen, Aila, "Training Generative
Adversarial Networks with Limited Data", NeurIPS 2020).

**The pipeline** is the paper's default 'bgc' (pixel blitting, general geometric and colour transforms), with
the constants of the authors' ``training/augment.py`` (NVlabs/stylegan2-ada-pytorch ``AugmentPipe``, read): every
transform is applied to a sample with probability p (times its multiplier, 1 by default), independently per
sample and per call:

* blit: x-flip, rotation by a multiple of 90°, integer translation uniform in ±0.125 of the side;
* geometric: isotropic scaling 2^N(0, 0.2²), rotation uniform in ±180° (applied before *and* after the
  anisotropic scaling, each with probability 1 − √(1 − p), so that P(any rotation) = p), anisotropic scaling
  2^N(0, 0.2²), fractional translation N(0, 0.125²) of the side;
* colour (on images in [−1, 1], see ``value_range``): brightness + N(0, 0.2²), contrast × 2^N(0, 0.5²),
  luma flip (Householder reflection about the luma axis), hue rotation uniform in ±180° around the luma axis
  and saturation 2^N(0, 1) (hue and saturation only for RGB).

All geometric transforms are composed into one inverse affine map per sample and executed by one bilinear
``grid_sample`` with reflection padding; the authors additionally oversample 2× with a symmetric-wavelet
(sym6) low-pass filter before sampling to suppress aliasing, **not done here** (a stated simplification).
Colour transforms compose into one 4×4 matrix per sample, applied as the reference does for RGB (C = 3) and
grey (C = 1) images; other channel counts (a fusion critic that sees an image and a condition) use the grey
rule per channel.

**The heuristic** (paper Sec. 3, code ``training_loop.py``): r_t = E[sign(D(x_real))] over the critic's
outputs on real data (here E[sign(D(x_real) − t)] with the loss's decision threshold t, 0 for the logistic and
hinge losses the paper uses; the midpoint of the batch means for critics without a scale; one p for the system,
r_t pooled over all its critics' calls, e.g. DDcGAN's two) is accumulated over ``interval`` = 4 generator steps, then p ← max(0, p + sign(r_t − target)·B·interval / (kimg·1000)) with
target 0.6 and kimg = 500 (p can rise from 0 to 1 in 500k real images).  ``adaptive: false`` keeps p fixed.
p and the partial accumulation are training state (checkpointed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from gan_models.augment.base import CriticAugment
from gan_models.config import ConfigError
from gan_models.registry import AUGMENTATIONS

_LUMA = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3.0)


def _eye(n: int, b: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(n, dtype=like.dtype, device=like.device).expand(b, n, n).clone()


def _scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _eye(3, sx.shape[0], sx)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _eye(3, tx.shape[0], tx)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _rotate2d(theta: torch.Tensor) -> torch.Tensor:
    m = _eye(3, theta.shape[0], theta)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _rotate3d(v: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rotation by ``theta`` (B,) around the unit axis ``v`` (3,), homogeneous (B, 4, 4) (Rodrigues)."""
    vx, vy, vz = v[0], v[1], v[2]
    s, c = torch.sin(theta), torch.cos(theta)
    cc = 1 - c
    m = _eye(4, theta.shape[0], theta)
    rows = [[vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s],
            [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s],
            [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c]]
    for i in range(3):
        for j in range(3):
            m[:, i, j] = rows[i][j]
    return m


@AUGMENTATIONS.register("ada")
@dataclass
class ADA(CriticAugment):
    target: float = 0.6
    interval: int = 4
    kimg: float = 500.0
    p: float = 0.0
    adaptive: bool = True
    # probability multipliers ('bgc') and ranges, StyleGAN2-ADA AugmentPipe defaults
    xflip: float = 1.0
    rotate90: float = 1.0
    xint: float = 1.0
    xint_max: float = 0.125
    scale: float = 1.0
    rotate: float = 1.0
    aniso: float = 1.0
    xfrac: float = 1.0
    scale_std: float = 0.2
    rotate_max: float = 1.0
    aniso_std: float = 0.2
    xfrac_std: float = 0.125
    brightness: float = 1.0
    contrast: float = 1.0
    lumaflip: float = 1.0
    hue: float = 1.0
    saturation: float = 1.0
    brightness_std: float = 0.2
    contrast_std: float = 0.5
    hue_max: float = 1.0
    saturation_std: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.target <= 1.0 or self.interval < 1 or not self.kimg > 0 or self.p < 0:
            raise ConfigError(f"augment (ada): needs target in [0, 1], interval >= 1, kimg > 0, p >= 0; got target="
                              f"{self.target}, interval={self.interval}, kimg={self.kimg}, p={self.p}")
        self._signs: list[float] = []
        self._steps = 0
        self.last_rt: float | None = None

    # ---- the heuristic
    def observe(self, real_signs: list[float], batch_size: int) -> None:
        if not self.adaptive:
            return
        self._signs.extend(float(s) for s in real_signs)
        self._steps += 1
        if self._steps % self.interval == 0 and self._signs:
            self.last_rt = sum(self._signs) / len(self._signs)
            adjust = math.copysign(1.0, self.last_rt - self.target) if self.last_rt != self.target else 0.0
            self.p = max(0.0, self.p + adjust * batch_size * self.interval / (self.kimg * 1000.0))
            self._signs = []

    def logs(self) -> dict[str, float]:
        out = {"augment/p": float(self.p)}
        if self.last_rt is not None:
            out["augment/r_t"] = float(self.last_rt)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"p": float(self.p), "signs": list(self._signs), "steps": int(self._steps),
                "last_rt": float("nan") if self.last_rt is None else float(self.last_rt)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if set(state) != {"p", "signs", "steps", "last_rt"}:
            raise KeyError(f"ADA state needs p, signs, steps, last_rt; got {sorted(state)}")
        self.p, self._signs, self._steps = float(state["p"]), [float(s) for s in state["signs"]], int(state["steps"])
        self.last_rt = None if math.isnan(float(state["last_rt"])) else float(state["last_rt"])

    # ---- the pipeline
    def _coin(self, mult: float, n: int, ref: torch.Tensor) -> torch.Tensor:
        return torch.rand(n, device=ref.device) < mult * self.p

    def _rotation(self, n: int, x: torch.Tensor) -> torch.Tensor:
        """A rotation applied with probability 1 − √(1 − p·rotate), twice per call: P(any rotation) = p."""
        p_rot = 1 - math.sqrt(min(max(1 - self.rotate * self.p, 0.0), 1.0))
        theta = (torch.rand(n, device=x.device) * 2 - 1) * math.pi * self.rotate_max
        theta = torch.where(torch.rand(n, device=x.device) < p_rot, theta, torch.zeros_like(theta))
        return _rotate2d(theta)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0:
            return x
        return self.colour_part(self.geometric(x))

    def geometric(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        ref = torch.zeros(n, device=x.device, dtype=torch.float32)
        g = _eye(3, n, ref)                     # inverse map, output pixel -> input pixel, centred pixel units
        if self.xflip > 0:
            i = torch.where(self._coin(self.xflip, n, x), torch.floor(torch.rand(n, device=x.device) * 2), ref)
            g = g @ _scale2d(1 - 2 * i, torch.ones_like(i))
        if self.rotate90 > 0:
            i = torch.where(self._coin(self.rotate90, n, x), torch.floor(torch.rand(n, device=x.device) * 4), ref)
            g = g @ _rotate2d(math.pi / 2 * i)          # the inverse of a rotation by −90°·i
        if self.xint > 0:
            t = (torch.rand(n, 2, device=x.device) * 2 - 1) * self.xint_max
            t = torch.where(self._coin(self.xint, n, x)[:, None], t, torch.zeros_like(t))
            g = g @ _translate2d(-torch.round(t[:, 0] * w), -torch.round(t[:, 1] * h))
        if self.scale > 0:
            s = torch.exp2(torch.randn(n, device=x.device) * self.scale_std)
            s = torch.where(self._coin(self.scale, n, x), s, torch.ones_like(s))
            g = g @ _scale2d(1 / s, 1 / s)
        if self.rotate > 0:
            g = g @ self._rotation(n, x)                  # before the anisotropic scaling
        if self.aniso > 0:
            s = torch.exp2(torch.randn(n, device=x.device) * self.aniso_std)
            s = torch.where(self._coin(self.aniso, n, x), s, torch.ones_like(s))
            g = g @ _scale2d(1 / s, s)
        if self.rotate > 0:
            g = g @ self._rotation(n, x)                  # after it
        if self.xfrac > 0:
            t = torch.randn(n, 2, device=x.device) * self.xfrac_std
            t = torch.where(self._coin(self.xfrac, n, x)[:, None], t, torch.zeros_like(t))
            g = g @ _translate2d(-t[:, 0] * w, -t[:, 1] * h)
        if torch.equal(g, _eye(3, n, ref)):
            return x
        # centred pixel units -> the normalised coordinates of affine_grid (align_corners=False)
        to_norm = _scale2d(torch.full((n,), 2.0 / w, device=x.device), torch.full((n,), 2.0 / h, device=x.device))
        theta = to_norm @ g @ torch.linalg.inv(to_norm)
        grid = F.affine_grid(theta[:, :2, :].to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def colour(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        ref = torch.zeros(n, device=x.device, dtype=torch.float32)
        v = _LUMA.to(x.device)
        m = _eye(4, n, ref)
        if self.brightness > 0:
            b = torch.randn(n, device=x.device) * self.brightness_std
            m = _translate3d(torch.where(self._coin(self.brightness, n, x), b, ref)) @ m
        if self.contrast > 0:
            k = torch.exp2(torch.randn(n, device=x.device) * self.contrast_std)
            k = torch.where(self._coin(self.contrast, n, x), k, torch.ones_like(k))
            m = _scale3d(k) @ m
        if self.lumaflip > 0:
            i = torch.where(self._coin(self.lumaflip, n, x), torch.floor(torch.rand(n, device=x.device) * 2), ref)
            m = (torch.eye(4, device=x.device) - 2 * torch.outer(v, v) * i[:, None, None]) @ m
        if self.hue > 0 and c == 3:
            theta = (torch.rand(n, device=x.device) * 2 - 1) * math.pi * self.hue_max
            m = _rotate3d(v, torch.where(self._coin(self.hue, n, x), theta, ref)) @ m
        if self.saturation > 0 and c == 3:
            s = torch.exp2(torch.randn(n, device=x.device) * self.saturation_std)
            s = torch.where(self._coin(self.saturation, n, x), s, torch.ones_like(s))[:, None, None]
            vv = torch.outer(v, v)
            m = (vv + (torch.eye(4, device=x.device) - vv) * s) @ m
        m = m.to(x.dtype)
        flat = x.reshape(n, c, -1)
        if c == 3:
            out = m[:, :3, :3] @ flat + m[:, :3, 3:]
        else:                                   # grey rule (reference, C = 1), per channel
            grey = m[:, :3, :].mean(dim=1, keepdim=True)                    # (N, 1, 4)
            out = flat * grey[:, :, :3].sum(dim=2, keepdim=True) + grey[:, :, 3:]
        return out.reshape(x.shape)


def _translate3d(b: torch.Tensor) -> torch.Tensor:
    m = _eye(4, b.shape[0], b)
    m[:, 0, 3], m[:, 1, 3], m[:, 2, 3] = b, b, b
    return m


def _scale3d(k: torch.Tensor) -> torch.Tensor:
    m = _eye(4, k.shape[0], k)
    m[:, 0, 0], m[:, 1, 1], m[:, 2, 2] = k, k, k
    return m
