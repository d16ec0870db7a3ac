"""StackGAN++'s tree-structured generator (Zhang, Xu, Li, Zhang, Wang, Huang, Metaxas, "StackGAN++: Realistic
Image Synthesis with Stacked Generative Adversarial Networks", TPAMI 2018, Sec. 4.1 and Fig. 2).

One trunk of hidden feature maps h_0 = F_0(z, c), h_i = F_i(h_{i−1}, c), each branch G_i(h_i) producing an image
at twice the previous resolution (the paper: 64², 128², 256²).  Following the authors' ``G_NET``
(hanzhanggit/StackGAN-v2 ``model.py``, structure as read; layer widths here are the zoo's):

* F_0: FC (z ‖ c) → (16·w, 4, 4) → BN → ReLU, then 2×-upsampling blocks (nearest + 3×3 conv + BN + ReLU,
  halving the channels) to the first resolution; the authors use GLU activations (a gated half of the
  channels): ReLU here, a stated simplification;
* F_i (i ≥ 1): c tiled over h_{i−1} and joined by a 3×3 conv → BN → ReLU, ``n_res`` residual blocks, one 2×
  upsampling block;
* G_i: 3×3 conv to the image channels, tanh.

``forward(z, c=None)`` returns the list of images [s_0, ..., s_{n−1}] from coarse to fine (``c`` is the
conditioning-augmentation code, absent for unconditional generation).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_models.blocks.conv import ConvNormAct
from gan_models.blocks.residual import ResidualBlock
from gan_models.blocks.sampling import Upsample
from gan_models.networks.base import Size, dcgan_init_, size_pair
from gan_models.registry import GENERATORS


@GENERATORS.register("tree")
class TreeGenerator(nn.Module):
    def __init__(self, latent_dim: int = 100, out_channels: int = 3, size: Size = 64, n_stages: int = 3, *,
                 width: int = 32, cond_dim: int = 0, n_res: int = 2, init: bool = True):
        super().__init__()
        h, w = size_pair(size)
        if n_stages < 1:
            raise ValueError(f"the tree generator needs n_stages >= 1, got {n_stages}")
        low = (h // 2 ** (n_stages - 1), w // 2 ** (n_stages - 1))
        n_up = 0
        while low[0] % 2 ** (n_up + 1) == 0 and low[1] % 2 ** (n_up + 1) == 0 and min(low) // 2 ** (n_up + 1) >= 4:
            n_up += 1
        if low[0] * 2 ** (n_stages - 1) != h or low[1] * 2 ** (n_stages - 1) != w or min(low) < 4:
            raise ValueError(f"tree generator: size {h}x{w} must be (first-stage size) x 2^{n_stages - 1} with a "
                             f"first-stage side >= 4, e.g. 64 with n_stages 3 (16, 32, 64)")
        self.latent_dim, self.cond_dim, self.n_stages, self.out_channels = latent_dim, cond_dim, n_stages, out_channels
        self.base = (low[0] // 2 ** n_up, low[1] // 2 ** n_up)
        ch = width * 2 ** n_up
        self.fc = nn.Sequential(nn.Linear(latent_dim + cond_dim, ch * self.base[0] * self.base[1], bias=False),
                                nn.BatchNorm1d(ch * self.base[0] * self.base[1]), nn.ReLU(True))
        self.base_channels = ch
        ups = []
        for _ in range(n_up):
            ups.append(Upsample(ch, ch // 2, mode="nearest", norm="batch", act="relu"))
            ch //= 2
        self.init_stage = nn.Sequential(*ups)
        self.next_stages = nn.ModuleList()
        self.heads = nn.ModuleList([ConvNormAct(ch, out_channels, 3, norm=None, act="tanh")])
        for _ in range(1, n_stages):
            self.next_stages.append(nn.ModuleDict({
                "joint": ConvNormAct(ch + cond_dim, ch, 3, norm="batch", act="relu"),
                "res": nn.Sequential(*[ResidualBlock(ch, norm="batch", act="relu") for _ in range(n_res)]),
                "up": Upsample(ch, max(ch // 2, 1), mode="nearest", norm="batch", act="relu")}))
            ch = max(ch // 2, 1)
            self.heads.append(ConvNormAct(ch, out_channels, 3, norm=None, act="tanh"))
        if init:
            dcgan_init_(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> list[torch.Tensor]:
        if (c is None) != (self.cond_dim == 0) or (c is not None and c.shape[1] != self.cond_dim):
            raise ValueError(f"tree generator built with cond_dim={self.cond_dim} got c of shape "
                             f"{None if c is None else tuple(c.shape)}")
        x = z if c is None else torch.cat([z, c], dim=1)
        h = self.fc(x).view(z.shape[0], self.base_channels, *self.base)
        h = self.init_stage(h)
        images = [self.heads[0](h)]
        for stage, head in zip(self.next_stages, self.heads[1:]):
            if c is not None:
                h = torch.cat([h, c[:, :, None, None].expand(-1, -1, *h.shape[2:])], dim=1)
            h = stage["up"](stage["res"](stage["joint"](h)))
            images.append(head(h))
        return images
