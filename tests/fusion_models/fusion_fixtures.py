"""Constants and helpers shared by the fusion-model tests (imported by conftest and the test modules)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

FUSION_PRESETS = ["fusiongan", "ddcgan", "ganfuse", "mgmdcgan", "dsagan", "tacgan", "mmfgan", "dense_lmax",
                  "ganfm", "fusegan", "mganfuse", "rcgan", "esrgan_fuse", "sagan_fuse", "mefgan", "smoothmax_gan"]
SYNTHESIS_PRESETS = ["mgmgan", "nenc_mdec", "fproi_gan"]
ALL_PRESETS = FUSION_PRESETS + SYNTHESIS_PRESETS
LOSSES = ["nonsaturating", "lsgan", "wgan_gp", "hinge"]

#: overrides that make every preset small enough for CPU unit tests (the architecture is unchanged)
TINY: dict[str, dict] = {
    "fusiongan": {"stages.G.generator.width": 2, "judges.mri.net.width": 4},
    "ddcgan": {"stages.G.generator.width": 4, "judges.mri.net.width": 4, "judges.func.net.width": 4},
    "ganfuse": {"stages.G.generator.width": 4, "judges.d1.net.width": 4, "judges.d2.net.width": 4},
    "mgmdcgan": {"stages.G1.generator.width": 3, "stages.G2.generator.width": 3, "judges.mri.net.width": 4,
                 "judges.func.net.width": 4},
    "dsagan": {"stages.G.generator.width": 3, "judges.mri.net.width": 4, "judges.func.net.width": 4},
    "tacgan": {"stages.G.generator.width": 4, "judges.mri.net.width": 4},
    "mmfgan": {"stages.G.generator.width": 6, "judges.mri.net.width": 4, "judges.func.net.width": 4},
    "dense_lmax": {"stages.G.generator.width": 8, "judges.mri.net.width": 4},
    "ganfm": {"stages.G.generator.width": 4, "stages.G.generator.depth": 2, "judges.mri.net.width": 4,
              "judges.func.net.width": 4},
    "fusegan": {"stages.G.generator.width": 4, "judges.mri.net.width": 4},
    "mganfuse": {"stages.G.generator.width": 4, "judges.mri.net.width": 4, "judges.func.net.width": 4},
    "rcgan": {"stages.G1.generator.width": 2, "stages.G2.generator.width": 2, "judges.d1.net.width": 4,
              "judges.d2.net.width": 4},
    "esrgan_fuse": {"stages.G.generator.width": 6, "stages.G.generator.growth": 4,
                    "stages.G.generator.n_blocks": 1, "judges.mri.net.width": 4},
    "sagan_fuse": {"stages.G.generator.width": 6, "judges.mri.net.width": 4},
    "mefgan": {"stages.G.generator.width": 4, "judges.mri.net.width": 4},
    "smoothmax_gan": {"stages.G.generator.width": 4, "judges.detail.net.width": 4, "judges.target.net.width": 4},
    "mgmgan": {"generator.width": 4, "discriminator.width": 4},
    "nenc_mdec": {"generator.width": 4, "generator.latent": 4, "discriminator.width": 4},
    "fproi_gan": {"generator.width": 4, "generator.n_blocks": 1, "discriminator.width": 4,
                  "shape_a": [1, 32, 32], "shape_b": [1, 32, 32]},
}


#: the Qabf overfit protocol (tests/fusion_models/test_overfit_quality.py): every stage's content loss replaced by
#: a Qabf-oriented fusion objective, adversarial weights 0, Adam 2e-3, plus these per-preset extras
QABF_CONTENT = [{"name": "intensity", "weight": 10.0, "target": "max", "norm": "l1"},
                {"name": "ssim", "weight": 10.0, "target": "both", "weights": [0.5, 0.5]},
                {"name": "gradient", "weight": 10.0, "target": "max", "operator": "sobel", "norm": "l1"}]
#: MGMDcGAN's default multi-resolution setting feeds G a 1/4-resolution B: the phantom pair is same-resolution
OVERFIT: dict[str, dict] = {"mgmdcgan": {"b_scale": 1}}


def square(img: np.ndarray, size: int) -> torch.Tensor:
    """Centre-crop to a square around the image centre and area-resize to ``size``."""
    h, w = img.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    t = torch.from_numpy(np.ascontiguousarray(img[top:top + s, left:left + s], dtype=np.float32))[None, None]
    return F.interpolate(t, size=(size, size), mode="area").clamp(0.0, 1.0)


def batch_for(preset: str, pair: dict[str, torch.Tensor], contrasts: dict[str, torch.Tensor] | None = None,
              n: int = 2) -> dict[str, torch.Tensor]:
    src = contrasts if preset in ("mgmgan", "nenc_mdec", "fproi_gan") else pair
    keys = {"mgmgan": ["t1", "t2", "flair"], "nenc_mdec": ["t1", "t2", "flair", "t1ce"]}.get(preset, ["a", "b"])
    return {k: src[k].expand(n, -1, -1, -1).contiguous() for k in keys}
