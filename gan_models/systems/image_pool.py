"""The history buffer of generated samples a CycleGAN discriminator is trained on (Shrivastava et al. 2017;
CycleGAN, Zhu et al. 2017 Sec. 4: "a buffer that stores the 50 previously created images").

Semantics of the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix ``util/image_pool.py``,
also TF-GAN's ``random_tensor_pool``), per sample of the incoming batch:

* while the pool holds fewer than ``size`` samples: store the new sample and return it;
* once full: with probability 0.5 return a uniformly chosen stored sample and put the new one in its slot,
  otherwise return the new sample unchanged.

``size = 0`` disables the pool (the batch is returned as is).  Random draws use the global torch RNG, which
checkpoints restore; the stored samples are training state (:meth:`state_dict` / :meth:`load_state_dict`).
"""
from __future__ import annotations

from typing import Any

import torch


class ImagePool:
    def __init__(self, size: int = 50):
        if size < 0:
            raise ValueError(f"image pool size must be >= 0, got {size}")
        self.size = int(size)
        self.images: torch.Tensor | None = None      # (n, ...) stored samples, n <= size

    def __len__(self) -> int:
        return 0 if self.images is None else int(self.images.shape[0])

    @torch.no_grad()
    def query(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.detach()
        if self.size == 0:
            return batch
        out = []
        for sample in batch:
            sample = sample.unsqueeze(0)
            if len(self) < self.size:
                self.images = sample.clone() if self.images is None else torch.cat([self.images, sample.clone()])
                out.append(sample)
            elif float(torch.rand(())) > 0.5:
                idx = int(torch.randint(0, self.size, ()))
                out.append(self.images[idx:idx + 1].clone())
                self.images[idx] = sample[0]
            else:
                out.append(sample)
        return torch.cat(out)

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size,
                "images": self.images.clone() if self.images is not None else torch.empty(0)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["size"]) != self.size:
            raise ValueError(f"image pool: checkpoint size {state['size']} != configured size {self.size}")
        images = state["images"]
        if images.numel() and images.shape[0] > self.size:
            raise ValueError(f"image pool: checkpoint holds {images.shape[0]} samples, more than size {self.size}")
        self.images = images.clone() if images.numel() else None
