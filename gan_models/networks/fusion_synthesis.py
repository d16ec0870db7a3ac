"""Generators of the review's MRI synthesis models: multi-input encoders and image-to-image translators.

Contract (synthesis): ``forward(inputs: list[Tensor]) -> list[Tensor]`` with every input (N, 1, H, W) in [0, 1]
and one output (N, 1, H, W) in [0, 1] per target modality; ``forward(inputs, return_latents=True)`` also
returns the per-input latent maps (for latent-space losses).  H, W divisible by ``stride``.

* ``mgm_synth``   (MGM-GAN): one encoder per input modality, a gated merge at every scale, a U-Net decoder.
* ``nenc_mdec``   (the review's Ref. 66; Chartsias, Joyce, Giuffrida, Tsaftaris, "Multimodal MR synthesis via
  modality-invariant latent representation", IEEE TMI 37(3), 2018): N encoders to a shared latent space,
  a fusion operator (pixel-wise max in the paper), M decoders.
(The CycleGAN translator of ``fproi_gan`` is the zoo's ``resnet_translator``.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_models.blocks.conv import ConvNormAct
from gan_models.blocks.merge import GateMerge
from gan_models.networks.fusion_base import unit_interval
from gan_models.registry import GENERATORS


class SynthesisGenerator(nn.Module):
    stride: int = 1

    def __init__(self, n_inputs: int, n_outputs: int, out_act: str):
        super().__init__()
        if n_inputs < 1 or n_outputs < 1:
            raise ValueError(f"need at least one input and one output, got {n_inputs} and {n_outputs}")
        unit_interval(torch.zeros(1), out_act)
        self.n_inputs, self.n_outputs, self.out_act = int(n_inputs), int(n_outputs), out_act

    def check_inputs(self, inputs: list[torch.Tensor]) -> None:
        name = type(self).__name__
        if len(inputs) != self.n_inputs:
            raise ValueError(f"{name}: expects {self.n_inputs} input images, got {len(inputs)}")
        shape = inputs[0].shape
        for i, x in enumerate(inputs):
            if x.dim() != 4 or x.shape[1] != 1 or x.shape != shape:
                raise ValueError(f"{name}: input {i} must be (N, 1, H, W) like input 0 {tuple(shape)}, "
                                 f"got {tuple(x.shape)}")
        if shape[-2] % self.stride or shape[-1] % self.stride:
            raise ValueError(f"{name}: H and W must be divisible by {self.stride}, got {tuple(shape[-2:])}")


def _encoder(width: int, depth: int, norm: str) -> nn.ModuleList:
    return nn.ModuleList([ConvNormAct(1, width, 3, norm=norm, act="lrelu", padding_mode="reflect")]
                         + [ConvNormAct(width * 2 ** (i - 1), width * 2 ** i, 4, 2, 1, norm=norm, act="lrelu")
                            for i in range(1, depth + 1)])


def _run(stages: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
    feats = []
    for s in stages:
        x = s(x)
        feats.append(x)
    return feats


class _UDecoder(nn.Module):
    def __init__(self, width: int, depth: int, n_out: int, norm: str):
        super().__init__()
        self.depth = depth
        self.stages = nn.ModuleList(ConvNormAct(width * 2 ** (i + 1) + width * 2 ** i, width * 2 ** i, 3, norm=norm,
                                                act="lrelu") for i in range(depth - 1, -1, -1))
        self.out = nn.Conv2d(width, n_out, 3, padding=1)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        h = skips[self.depth]
        for stage, i in zip(self.stages, range(self.depth - 1, -1, -1)):
            h = stage(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), skips[i]], dim=1))
        return self.out(h)


@GENERATORS.register("mgm_synth")
class MGMSynthesisGenerator(SynthesisGenerator):
    """MGM-GAN generator (multi-input gated merge GAN for MR synthesis, the review's section 4.2).

    One encoder per input modality (depth d, widths w·2^i); at every scale the modality features are merged by
    learned gates (:class:`GateMerge`, folded over the inputs: m = g(m, x_k)), so a missing or uninformative
    contrast can be gated out per pixel; a U-Net decoder reads the merged maps and emits one channel per target.
    Depth 2, width 8 by default (the paper's sizes were not available to us).
    """

    def __init__(self, n_inputs: int = 2, n_outputs: int = 1, width: int = 8, depth: int = 2,
                 out_act: str = "sigmoid", norm: str = "batch"):
        super().__init__(n_inputs, n_outputs, out_act)
        self.stride = 2 ** depth
        self.encoders = nn.ModuleList(_encoder(width, depth, norm) for _ in range(n_inputs))
        self.gates = nn.ModuleList(
            nn.ModuleList(GateMerge(width * 2 ** s) for _ in range(n_inputs - 1)) for s in range(depth + 1))
        self.decoder = _UDecoder(width, depth, n_outputs, norm)

    def forward(self, inputs: list[torch.Tensor], return_latents: bool = False):
        self.check_inputs(inputs)
        feats = [_run(enc, x) for enc, x in zip(self.encoders, inputs)]
        merged = []
        for s in range(len(feats[0])):
            m = feats[0][s]
            for k in range(1, self.n_inputs):
                m = self.gates[s][k - 1](m, feats[k][s])
            merged.append(m)
        y = unit_interval(self.decoder(merged), self.out_act)
        outs = list(y.split(1, dim=1))
        return (outs, [f[-1] for f in feats]) if return_latents else outs


FUSION_OPERATORS = {
    "max": lambda zs: torch.stack(zs).amax(dim=0),
    "mean": lambda zs: torch.stack(zs).mean(dim=0),
}


@GENERATORS.register("nenc_mdec")
class NEncMDecGenerator(SynthesisGenerator):
    """N encoders → fusion operator → M decoders (Chartsias et al., IEEE TMI 2018; the review's Ref. 66).

    Each input modality has its own encoder to a full-resolution latent map of ``latent`` channels (the paper:
    16 channels, full resolution, U-Net-like encoders); the latents are fused pixel-wise by ``fusion``
    (``max`` in the paper, ``mean`` available); each output modality has its own decoder.  Here encoders and
    decoders are 4-conv stacks of width w (default 8) with a 2-level down/up path (our choice).
    """

    def __init__(self, n_inputs: int = 2, n_outputs: int = 1, width: int = 8, latent: int = 8,
                 fusion: str = "max", out_act: str = "sigmoid", norm: str = "batch"):
        super().__init__(n_inputs, n_outputs, out_act)
        if fusion not in FUSION_OPERATORS:
            raise KeyError(f"unknown fusion operator {fusion!r}; known: {sorted(FUSION_OPERATORS)}")
        self.fusion = fusion
        self.stride = 2
        w = width

        def encoder() -> nn.Sequential:
            return nn.Sequential(ConvNormAct(1, w, 3, norm=norm, act="lrelu", padding_mode="reflect"),
                                 ConvNormAct(w, 2 * w, 4, 2, 1, norm=norm, act="lrelu"),
                                 ConvNormAct(2 * w, 2 * w, 3, norm=norm, act="lrelu"),
                                 ConvNormAct(2 * w, w, 4, 2, 1, norm=norm, act="lrelu", transposed=True),
                                 nn.Conv2d(w, latent, 3, padding=1))

        def decoder() -> nn.Sequential:
            return nn.Sequential(ConvNormAct(latent, w, 3, norm=norm, act="lrelu"),
                                 ConvNormAct(w, 2 * w, 4, 2, 1, norm=norm, act="lrelu"),
                                 ConvNormAct(2 * w, w, 4, 2, 1, norm=norm, act="lrelu", transposed=True),
                                 nn.Conv2d(w, 1, 3, padding=1))

        self.encoders = nn.ModuleList(encoder() for _ in range(n_inputs))
        self.decoders = nn.ModuleList(decoder() for _ in range(n_outputs))

    def forward(self, inputs: list[torch.Tensor], return_latents: bool = False):
        self.check_inputs(inputs)
        zs = [enc(x) for enc, x in zip(self.encoders, inputs)]
        z = FUSION_OPERATORS[self.fusion](zs)
        outs = [unit_interval(dec(z), self.out_act) for dec in self.decoders]
        return (outs, zs) if return_latents else outs
