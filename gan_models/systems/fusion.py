"""FusionSystem: the topology of the review's GAN fusion models (one or more generators, any number of critics).

Batch (DESIGN §2-3): ``"a"`` (N, 1, H, W) MRI and ``"b"`` (N, 1, H, W) CT/PET/SPECT luma in [0, 1]; optional
``"b_lowres"`` (N, 1, H/r, W/r) (multi-resolution fusion; derived from ``b`` by r x r box averaging when a
preset sets ``b_scale = r`` and the batch has none), ``"labels"`` (N, 1, H, W) int tissue map (computed from A
by :func:`gan_models.tissue_labels.tissue_labels` when absent) and ``"mask"`` (N, 1, H, W) (computed as the
MRI's dense-structure mask when absent).

Configuration (every field below is a keyword of the constructor, i.e. a ``params`` key of a preset):

* ``loss``: an adversarial loss from ``LOSSES`` (name or ``{name, constants}``); one loss object per critic.
* ``stages``: an ordered mapping ``{generator name: StageSpec}`` (a mapping, so that overrides can address
  ``stages.G.generator.width``).  One stage is the ordinary model F = G(A, B).  Several stages form a cascade
  (MGMDcGAN: G2 refines G1's output, its B slot fed with ``"prev"``) or a coupled pair (RCGAN: G2 sees
  (B, A), ``tie_generators`` shares named layers); ``output`` picks the last stage's output or the ``mean`` of
  all stages (RCGAN).  Each stage has its own content terms (``CONTENT_LOSSES``, with weights) and
  conditioning views concatenated as the generator's ``extra`` channels.
* ``judges``: the critics (:class:`JudgeSpec`), each judging a *fake view* against a *real view* of the
  batch, optionally conditioned on further views (channels concatenated to both), with a weight on its
  adversarial term in the G loss.  Views are registered in ``FUSION_VIEWS``: ``a``, ``b``, ``b_lowres``,
  ``fused``, ``fused_down`` (F box-averaged to B's low resolution), ``abs_fused_minus_a`` |F − A|,
  ``abs_fused_minus_b`` |F − B|, ``max`` (max(A, B)), ``grad_fused`` (Sobel |gx| + |gy| of F),
  ``grad_joint`` (max(|∇A|, |∇B|)), ``grad_joint_edges`` / ``grad_fused_edges`` (the joint / fused gradient on
  the sources' edges only), ``grad_a_under_b`` / ``grad_fused_under_b`` (|∇A| / |∇F| where B > A,
  0 elsewhere), ``b_salient`` / ``fused_b_salient`` (B / F where B > A, 0 elsewhere), ``labels`` (one-hot
  tissue map), ``mask``.
  A judge sees the outputs of the stages named in ``stages`` (default all), concatenated along the batch
  with the real view repeated to match.
* ``g_optimizer`` / ``d_optimizer``: overrides of the loss's paper optimiser (DDcGAN: RMSProp / SGD).
* ``d_steps``: fixed critic repeats (default: the loss's ``critic_repeats``: n_critic, WGAN warm-up).
* ``balance``: an optional balanced-steps policy (``gan_models.systems.fusion_balance``).
* ``param_clip``: clamp every parameter of the stepped networks to ±c after each step (DDcGAN, MEF-GAN: 8).

Phases: one per critic (``D_<judge>``), then ``G`` (all generator stages, one optimizer).  Critic phases
run the loss's regularizers and post-step hook (clipping, Fisher λ) via the shared adversarial plumbing
(:mod:`gan_models.systems.adversarial`).  Inference: :meth:`FusionSystem.fuse` ``(a, b) -> F`` in [0, 1]
(eval mode, no grad; a pseudo-colour B (N, 3, H, W) is fused on its luma and gets its chroma back).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from gan_models.fusion_colour import fuse_colour
from gan_models.losses.base import AdversarialLoss, LossTerms
from gan_models.losses.content import (ContentTerm, content_loss, gradient_magnitude, match_resolution,
                                       parse_content_terms)
from gan_models.registry import DISCRIMINATORS, GENERATORS, SYSTEMS, Registry
from gan_models.systems.adversarial import (LossSpec, build_net, critic_terms,
                                            generator_terms, load_loss_state, loss_name, loss_state,
                                            optimizer_spec, require_keys)
from gan_models.systems.base import Batch, GANSystem, Phase, make_optimizer, step_cache
from gan_models.systems.fusion_balance import build_balance
from gan_models.tissue_labels import dense_structure_mask, one_hot_labels, tissue_labels
from gan_models.config import from_dict

FUSION_VIEWS: Registry = Registry("fusion view")


@dataclass
class FusionContext:
    """Everything a view may read for one stage output."""
    a: torch.Tensor
    b: torch.Tensor
    b_lowres: torch.Tensor | None
    fused: torch.Tensor | None
    prev: torch.Tensor | None
    labels: torch.Tensor | None          # one-hot (N, classes + 1, H, W)
    mask: torch.Tensor | None


def _need(x: torch.Tensor | None, what: str) -> torch.Tensor:
    if x is None:
        raise KeyError(f"fusion view needs {what}, which this system/batch does not provide")
    return x


FUSION_VIEWS.register("a")(lambda c: c.a)
FUSION_VIEWS.register("b")(lambda c: c.b)
FUSION_VIEWS.register("b_lowres")(lambda c: _need(c.b_lowres, "a low-resolution B (b_scale > 1)"))
FUSION_VIEWS.register("fused")(lambda c: _need(c.fused, "the fused image"))
FUSION_VIEWS.register("fused_down")(
    lambda c: match_resolution(_need(c.fused, "the fused image"), _need(c.b_lowres, "a low-resolution B")))
FUSION_VIEWS.register("abs_fused_minus_a")(lambda c: (_need(c.fused, "the fused image") - c.a).abs())
FUSION_VIEWS.register("abs_fused_minus_b")(lambda c: (_need(c.fused, "the fused image") - c.b).abs())
FUSION_VIEWS.register("max")(lambda c: torch.maximum(c.a, c.b))
# detail views (TarDAL-style detail critic): Sobel gradient magnitude |gx| + |gy| of F, and the sources'
# joint gradient max(|grad A|, |grad B|), the edge map a fusion should carry
FUSION_VIEWS.register("grad_fused")(lambda c: gradient_magnitude(_need(c.fused, "the fused image")))
FUSION_VIEWS.register("grad_joint")(lambda c: torch.maximum(gradient_magnitude(c.a), gradient_magnitude(c.b)))
# the same maps on the sources' edges only (joint gradient > EDGE_THRESHOLD, Sobel |gx| + |gy| on [0, 1] images):
# a critic that judges edges and never flat regions, where the reference VIF and SSIM punish any texture
EDGE_THRESHOLD = 0.1


def _joint_edges(c: FusionContext) -> torch.Tensor:
    g = torch.maximum(gradient_magnitude(c.a), gradient_magnitude(c.b))
    return (g > EDGE_THRESHOLD).to(g.dtype)


FUSION_VIEWS.register("grad_joint_edges")(
    lambda c: torch.maximum(gradient_magnitude(c.a), gradient_magnitude(c.b)) * _joint_edges(c))
FUSION_VIEWS.register("grad_fused_edges")(
    lambda c: gradient_magnitude(_need(c.fused, "the fused image")) * _joint_edges(c))
# TarDAL-style target views: the functional image's salient region (where B outshines A), intensities of B / F there
FUSION_VIEWS.register("b_salient")(lambda c: c.b * (c.b > c.a).to(c.b.dtype))
FUSION_VIEWS.register("fused_b_salient")(
    lambda c: _need(c.fused, "the fused image") * (c.b > c.a).to(c.b.dtype))
# where B outshines A (pixel-max shows B there and loses A's structure): A's edges are what F should carry there
FUSION_VIEWS.register("grad_a_under_b")(lambda c: gradient_magnitude(c.a) * (c.b > c.a).to(c.a.dtype))
FUSION_VIEWS.register("grad_fused_under_b")(
    lambda c: gradient_magnitude(_need(c.fused, "the fused image")) * (c.b > c.a).to(c.a.dtype))
FUSION_VIEWS.register("prev")(lambda c: _need(c.prev, "an earlier stage's output (stage index > 0)"))
FUSION_VIEWS.register("labels")(lambda c: _need(c.labels, "tissue labels"))
FUSION_VIEWS.register("mask")(lambda c: _need(c.mask, "a mask"))

#: views that need the tissue map / mask to be computed
_LABEL_VIEWS, _MASK_VIEWS = {"labels"}, {"mask"}


@dataclass
class StageSpec:
    """One generator of the system (see the module docstring)."""
    generator: dict[str, Any] = field(default_factory=lambda: {"name": "fusiongan"})
    content: list[dict[str, Any]] = field(default_factory=list)
    a: str = "a"                         # view fed to the generator's A slot
    b: str = "b"                         # view fed to its B slot ("b_lowres" for native multi-resolution)
    condition: list[str] = field(default_factory=list)   # views concatenated as the generator's extra input
    detach_prev: bool = True             # stop gradients from this stage into earlier stages through "prev"


@dataclass
class JudgeSpec:
    """One critic: judges ``fake`` (from every listed stage) against ``real``."""
    net: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan"})
    real: str = "a"
    fake: str = "fused"
    condition: list[str] = field(default_factory=list)
    weight: float = 1.0
    stages: list[str] | None = None


@SYSTEMS.register("fusion")
class FusionSystem(GANSystem):
    name = "fusion"
    batch_keys: tuple[str, ...] = ("a", "b")
    #: a fusion critic returns a score (logits or a patch map); ``check_loss`` / ``compatible_losses``: the
    #: zoo's one rule (``GANSystem.check_loss``)
    critic_outputs: tuple[str, ...] = ("score",)

    def __init__(self, loss: LossSpec = "nonsaturating", *, stages: dict[str, dict[str, Any]] | None = None,
                 judges: dict[str, dict[str, Any]] | None = None, output: str = "last", b_scale: int = 1,
                 tissue_classes: int = 3, g_optimizer: Mapping[str, Any] | None = None,
                 d_optimizer: Mapping[str, Any] | None = None, d_steps: int | None = None,
                 balance: Mapping[str, Any] | None = None, param_clip: float | None = None,
                 tie_generators: list[str] | None = None):
        super().__init__()
        self.loss_name = loss_name(loss)
        self.check_loss(loss)
        if output not in ("last", "mean"):
            raise ValueError(f"output must be 'last' or 'mean', got {output!r}")
        if b_scale < 1:
            raise ValueError(f"b_scale must be >= 1, got {b_scale}")
        self.output, self.b_scale, self.tissue_classes = output, int(b_scale), int(tissue_classes)
        stages = stages or {"G": {}}
        if not isinstance(stages, Mapping):
            raise ValueError("stages must be a mapping {generator name: stage spec} (ordered; 'prev' is the "
                             "stage before)")
        self.stage_names = list(stages)
        self.stages = [from_dict(StageSpec, s, f"stages.{k}") for k, s in stages.items()]
        self.judges = {k: from_dict(JudgeSpec, j, f"judges.{k}") for k, j in (judges or {}).items()}
        if not self.judges:
            raise ValueError("a fusion system needs at least one judge (critic)")
        clash = set(self.judges) & set(self.stage_names)
        if clash:
            raise ValueError(f"judge and stage names must differ, both use {sorted(clash)}")
        self.contents: list[list[ContentTerm]] = [parse_content_terms(s.content) for s in self.stages]
        self._check_views()

        for i, st in enumerate(self.stages):
            spec = dict(st.generator)
            spec.setdefault("extra_channels", sum(self._view_channels(v) for v in st.condition))
            self.generators[self._gname(i)] = build_net(GENERATORS, spec, defaults={"b_scale": self.b_scale})
        if tie_generators:
            from gan_models.networks.shared import tie_modules
            tie_modules([self.generators[self._gname(i)] for i in range(len(self.stages))], tie_generators)

        self.losses: dict[str, AdversarialLoss] = {}
        for k, j in self.judges.items():
            self.losses[k] = self.check_loss(loss)
            spec = dict(j.net)
            spec.setdefault("in_channels", 1 + sum(self._view_channels(v) for v in j.condition))
            self.discriminators[k] = build_net(DISCRIMINATORS, spec, critic_loss=self.losses[k])
        self._g_opt, self._d_opt = g_optimizer, d_optimizer
        self.d_steps = d_steps
        self.balance = build_balance(dict(balance) if balance else None)
        if self.balance is not None:
            self.balance.check_loss(self.loss_name)
        self.param_clip = param_clip
        self._cache: dict[str, Any] = {}
        self._last_batch: Batch | None = None
        self._g_step_seen = -1

    # ------------------------------------------------------------------ config helpers
    def _gname(self, i: int) -> str:
        return self.stage_names[i]

    def _view_channels(self, view: str) -> int:
        return self.tissue_classes + 1 if view == "labels" else 1

    def _check_views(self) -> None:
        names = set(FUSION_VIEWS.names())
        for i, st in enumerate(self.stages):
            for v in [st.a, st.b, *st.condition]:
                if v not in names:
                    raise KeyError(f"stages.{self.stage_names[i]}: unknown view {v!r}; known: {sorted(names)}")
                if v == "prev" and i == 0:
                    raise ValueError(f"stages.{self.stage_names[0]} is the first stage and cannot read 'prev'")
        for k, j in self.judges.items():
            for v in [j.real, j.fake, *j.condition]:
                if v not in names:
                    raise KeyError(f"judges.{k}: unknown view {v!r}; known: {sorted(names)}")
            for s in j.stages or []:
                if s not in self.stage_names:
                    raise ValueError(f"judges.{k}: unknown stage {s!r}; stages: {self.stage_names}")

    def _uses(self, views: set[str]) -> bool:
        used = {v for st in self.stages for v in [st.a, st.b, *st.condition]}
        used |= {v for j in self.judges.values() for v in [j.real, j.fake, *j.condition]}
        used |= {t.params.get("mask") for ts in self.contents for t in ts}
        return bool(used & views)

    # ------------------------------------------------------------------ data path
    def prepare(self, batch: Batch) -> Batch:
        """Validate the batch and add what the system derives from it (low-res B, tissue labels, mask)."""
        require_keys(batch, self.batch_keys, self.name)
        out = dict(batch)
        a, b = batch["a"], batch["b"]
        if (self.b_scale > 1 and b.dim() == 4 and a.dim() == 4 and "b_lowres" not in out
                and tuple(b.shape[-2:]) == (a.shape[-2] // self.b_scale, a.shape[-1] // self.b_scale)):
            # only a low-resolution B was given (multi-resolution fusion): keep it, upsample a full-size copy
            out["b_lowres"] = b
            b = out["b"] = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False)
        if a.dim() != 4 or a.shape[1] != 1 or b.shape != a.shape:
            raise ValueError(f"fusion batch: 'a' and 'b' must both be (N, 1, H, W) of one shape"
                             f"{' (or b at 1/%d resolution)' % self.b_scale if self.b_scale > 1 else ''}, got "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
        if "b_lowres" not in out:
            h, w = a.shape[-2:]
            if h % self.b_scale or w % self.b_scale:
                raise ValueError(f"H, W ({h}x{w}) must be divisible by b_scale={self.b_scale}")
            out["b_lowres"] = F.avg_pool2d(b, self.b_scale) if self.b_scale > 1 else b
        if self._uses(_LABEL_VIEWS) and "labels" not in out:
            out["labels"] = tissue_labels(a, self.tissue_classes)
        if self._uses(_MASK_VIEWS) and "mask" not in out:
            out["mask"] = dense_structure_mask(a, self.tissue_classes)
        return out

    def _context(self, batch: Batch, fused: torch.Tensor | None = None,
                 prev: torch.Tensor | None = None) -> FusionContext:
        labels = batch.get("labels")
        return FusionContext(a=batch["a"], b=batch["b"], b_lowres=batch.get("b_lowres"), fused=fused, prev=prev,
                             labels=None if labels is None else one_hot_labels(labels, self.tissue_classes),
                             mask=batch.get("mask"))

    def view(self, name: str, ctx: FusionContext) -> torch.Tensor:
        return FUSION_VIEWS.get(name)(ctx)

    def run_stages(self, batch: Batch) -> list[torch.Tensor]:
        """Every stage's output, in order (batch already :meth:`prepare`-d)."""
        outs: list[torch.Tensor] = []
        for i, st in enumerate(self.stages):
            prev = None
            if i > 0:
                prev = outs[-1].detach() if st.detach_prev else outs[-1]
            ctx = self._context(batch, prev=prev)
            extra = torch.cat([self.view(v, ctx) for v in st.condition], dim=1) if st.condition else None
            outs.append(self.generators[self._gname(i)](self.view(st.a, ctx), self.view(st.b, ctx), extra))
        return outs

    def stage_prior(self, i: int, ctx: FusionContext) -> torch.Tensor:
        """The fixed fusion rule a residual generator starts from (content target ``"prior"``), on the stage's
        own inputs; generators without one are refused with their name."""
        gen = self.generators[self._gname(i)]
        prior = getattr(getattr(gen, "module", gen), "prior", None)
        if prior is None:
            raise ValueError(f"stages.{self.stage_names[i]}: content target 'prior' needs a generator with a fixed "
                             f"fusion rule to start from (e.g. 'smoothmax_residual'), not "
                             f"{type(getattr(gen, 'module', gen)).__name__}")
        st = self.stages[i]
        return prior(self.view(st.a, ctx), self.view(st.b, ctx))

    def combine(self, outs: list[torch.Tensor]) -> torch.Tensor:
        return outs[-1] if self.output == "last" else torch.stack(outs).mean(dim=0)

    @torch.no_grad()
    def fuse(self, a: torch.Tensor, b: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        """Fused image in [0, 1] (eval mode, no gradients); an RGB B is fused on its luma (BT.601)."""
        def grey(a_: torch.Tensor, b_: torch.Tensor) -> torch.Tensor:
            was = [g.training for g in self.generators.values()]
            self.generators.eval()
            try:
                return self.combine(self.run_stages(self.prepare({"a": a_, "b": b_, **extra})))
            finally:
                for g, t in zip(self.generators.values(), was):
                    g.train(t)
        return fuse_colour(grey, a, b)

    # ------------------------------------------------------------------ critics
    def _judge_inputs(self, name: str, batch: Batch, outs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        j = self.judges[name]
        idx = [self.stage_names.index(s) for s in j.stages] if j.stages is not None else list(range(len(outs)))
        reals, fakes = [], []
        for s in idx:
            ctx = self._context(batch, fused=outs[s], prev=outs[s - 1] if s > 0 else None)
            cond = [self.view(v, ctx) for v in j.condition]
            reals.append(torch.cat([self.view(j.real, ctx)] + cond, dim=1))
            fakes.append(torch.cat([self.view(j.fake, ctx)] + cond, dim=1))
        return torch.cat(reals), torch.cat(fakes)

    def _fused_for_critics(self, batch: Batch, step: int) -> list[torch.Tensor]:
        """Stage outputs without gradients, computed once per (step, batch) for all critic phases/repeats
        (G does not change during them)."""
        cache = step_cache(batch, step)          # kept in the batch dict: never confused with another batch
        if "outs" not in cache:
            with torch.no_grad():
                cache["outs"] = self.run_stages(batch)
        self._cache = cache
        return cache["outs"]

    def d_terms(self, name: str, batch: Batch, outs: list[torch.Tensor]) -> LossTerms:
        real, fake = self._judge_inputs(name, batch, outs)
        return critic_terms(self.losses[name], self.discriminators[name], real, fake)

    def _d_compute(self, name: str) -> Callable[[Batch, int], LossTerms]:
        def compute(batch: Batch, step: int) -> LossTerms:
            batch = self._prepared(batch)
            return self.d_terms(name, batch, self._fused_for_critics(batch, step))
        return compute

    def _d_after(self, name: str) -> Callable[[LossTerms], None]:
        def after(terms: LossTerms) -> None:
            self.losses[name].after_critic_step(self.discriminators[name], terms)
            self._clip([self.discriminators[name]])
            if self.balance is not None:
                with torch.no_grad():
                    outs = self._cache["outs"]
                    self.balance.record_d(name, float(self.d_terms(name, self._last_batch, outs).total))
        return after

    # ------------------------------------------------------------------ generator
    def g_terms(self, batch: Batch, adversarial_only: bool = False) -> LossTerms:
        outs = self.run_stages(batch)
        total = LossTerms(outs[0].new_zeros(()))
        if not adversarial_only:
            for i, (out, terms) in enumerate(zip(outs, self.contents)):
                ctx = self._context(batch, fused=out, prev=outs[i - 1].detach() if i > 0 else None)
                sources = {"a": ctx.a, "b": ctx.b}
                for key in ("b_lowres", "mask"):
                    if batch.get(key) is not None:
                        sources[key] = batch[key]
                if ctx.prev is not None:
                    sources["prev"] = ctx.prev
                if any(t.params.get("target") == "prior" for t in terms):
                    sources["prior"] = self.stage_prior(i, ctx)
                prefix = "content/" if len(outs) == 1 else f"content_{self.stage_names[i]}/"
                total = total + content_loss(terms, out, sources, prefix=prefix)
        for name, j in self.judges.items():
            real, fake = self._judge_inputs(name, batch, outs)
            t = generator_terms(self.losses[name], self.discriminators[name], fake, real)
            total = total + t.scaled(j.weight, prefix=f"adv_{name}/")
        return total

    def _g_compute(self, batch: Batch, step: int) -> LossTerms:
        batch = self._prepared(batch)
        adversarial_only = False
        if self.balance is not None:
            if self._g_step_seen != step:
                self._g_step_seen = step
                self.balance.start_g()
            adversarial_only = self.balance.g_mode == "adversarial"
        return self.g_terms(batch, adversarial_only)

    def _g_after(self, terms: LossTerms) -> None:
        self._clip(list(self.generators.values()))
        if self.balance is not None:
            with torch.no_grad():
                b = self._last_batch
                outs = self.run_stages(b)
                d = {k: float(self.d_terms(k, b, outs).total) for k in self.judges}
                g = float(self.g_terms(b).total)
            self.balance.record_g(g, d)

    def _prepared(self, batch: Batch) -> Batch:
        if batch.get("_prepared") is not True:
            prepared = self.prepare(batch)
            prepared["_prepared"] = True
            # keep the derived tensors on the caller's dict so later phases of this step reuse them (and the
            # full-size B that prepare made from a low-resolution one: it replaces the caller's "b")
            batch.update({k: v for k, v in prepared.items() if k not in batch or v is not batch[k]})
            batch["_prepared"] = True
        self._last_batch = batch
        return batch

    @torch.no_grad()
    def _clip(self, nets: list[nn.Module]) -> None:
        if self.param_clip is None:
            return
        for net in nets:
            for p in net.parameters():
                p.clamp_(-self.param_clip, self.param_clip)

    # ------------------------------------------------------------------ optimizers & phases
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        first = next(iter(self.losses.values()))
        opts = {"G": make_optimizer(self.generators.parameters(), optimizer_spec(self._g_opt, first.g_optimizer))}
        for k, d in self.discriminators.items():
            opts[f"D_{k}"] = make_optimizer(d.parameters(),
                                            optimizer_spec(self._d_opt, self.losses[k].d_optimizer))
        return opts

    def phases(self) -> list[Phase]:
        phases = []
        for k in self.judges:
            if self.balance is not None:
                repeats, stop = self.balance.d_repeats, self.balance.stop_d(k)
            elif self.d_steps is not None:
                repeats, stop = int(self.d_steps), None
            else:
                repeats, stop = self.losses[k].critic_repeats, None
            phases.append(Phase(f"D_{k}", f"D_{k}", self._d_compute(k), repeats=repeats, after_step=self._d_after(k),
                                stop_early=stop))
        phases.append(Phase("G", "G", self._g_compute, after_step=self._g_after,
                            repeats=self.balance.g_repeats if self.balance is not None else 1,
                            stop_early=self.balance.stop_g if self.balance is not None else None))
        return phases

    # ------------------------------------------------------------------ state
    def extra_state(self) -> dict[str, Any]:
        return {"losses": loss_state(self.losses)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_loss_state(self.losses, state.get("losses", {}))

