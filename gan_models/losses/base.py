"""The contract every adversarial loss follows (DESIGN §3, GAN_NOTES "Design lessons" 3).

* Losses are **pure**: ``d_loss(real_out, fake_out, **ctx)`` and ``g_loss(fake_out, real_out=None, **ctx)``
  compute a :class:`LossTerms` from raw network outputs; they never call a network and never hold tensors.
  Numeric constants come from the loss object's fields (set from the preset / overrides).
* Raw outputs: logits or critic values (any shape ``(B, ...)``; patch maps are averaged per sample).  Sigmoids
  and other output activations live inside the loss, never in the network.
* Losses that need more than a score (EBGAN energies + embeddings, MMD-GAN features + reconstructions,
  McGAN features, GMMN samples) receive a :class:`CriticOutput`; :func:`as_critic_output` lets losses accept
  either a tensor or a ``CriticOutput``.
* Training state that a loss owns (Fisher GAN's lambda) lives in :meth:`AdversarialLoss.state_dict` and is
  updated by :meth:`AdversarialLoss.after_d_step`, called by the system after the critic's optimizer step.
* Class attributes tell systems what the loss needs: ``needs_real_in_g`` (relativistic losses: the G step
  must pass a real batch through D), ``uses_discriminator`` (GMMN has none), ``critic_output``
  ("score" | "features" | "energy" | "samples"), and the paper's defaults for the optimiser, ``n_critic``,
  the regularisers and weight clipping.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class LossTerms:
    """A scalar to minimise plus named parts for logging (all tensors, detached copies are taken by the logger)."""
    total: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)

    def __add__(self, other: "LossTerms") -> "LossTerms":
        parts = dict(self.parts)
        for k, v in other.parts.items():
            parts[k] = parts[k] + v if k in parts else v
        return LossTerms(self.total + other.total, parts)

    def scaled(self, w: float, prefix: str = "") -> "LossTerms":
        return LossTerms(self.total * w, {f"{prefix}{k}": v for k, v in self.parts.items()})

    def floats(self) -> dict[str, float]:
        out = {k: float(v.detach()) for k, v in self.parts.items()}
        out["total"] = float(self.total.detach())
        return out


@dataclass
class CriticOutput:
    """What a discriminator returns when a loss needs more than one score per sample.

    score:     raw logits / critic values, (B, ...) (EBGAN: per-sample energy, (B,))
    features:  (B, d) feature vectors (McGAN, MMD-GAN, Fisher critic features)
    embedding: (B, d) encoder embedding (EBGAN pull-away term)
    recon:     reconstruction of the input (EBGAN / MMD-GAN auto-encoder)
    input:     the input the critic saw (reconstruction targets, GMMN samples)
    """
    score: torch.Tensor | None = None
    features: torch.Tensor | None = None
    embedding: torch.Tensor | None = None
    recon: torch.Tensor | None = None
    input: torch.Tensor | None = None


def as_critic_output(out: Any) -> CriticOutput:
    if isinstance(out, CriticOutput):
        return out
    if isinstance(out, torch.Tensor):
        return CriticOutput(score=out)
    raise TypeError(f"expected a tensor or CriticOutput, got {type(out).__name__}")


def score_of(out: Any) -> torch.Tensor:
    """The per-sample score, (B,): patch maps / extra dims are averaged per sample."""
    s = as_critic_output(out).score
    if s is None:
        raise ValueError("this loss needs a critic score, but the discriminator returned none")
    return s.reshape(s.shape[0], -1).mean(dim=1) if s.dim() > 1 else s


@dataclass(frozen=True)
class OptimizerSpec:
    """Paper-default optimiser of a loss (systems use it unless the preset overrides it)."""
    name: str = "adam"             # adam | rmsprop | sgd
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    momentum: float = 0.0


class AdversarialLoss:
    """Base class; subclasses are dataclasses registered in ``LOSSES`` with their paper constants as fields."""

    needs_real_in_g: bool = False
    uses_discriminator: bool = True
    critic_output: str = "score"           # "score" | "features" | "energy" | "samples"
    n_critic: int = 1
    d_optimizer: OptimizerSpec = OptimizerSpec()
    g_optimizer: OptimizerSpec = OptimizerSpec()
    #: ((name in REGULARIZERS, params), ...) added to the critic loss by
    #: ``gan_models.regularizers.apply_regularizers`` in every D phase (weights are inside the params)
    default_regularizers: tuple[tuple[str, dict[str, Any]], ...] = ()
    clip_weights: float | None = None      # WGAN weight clipping, applied after each critic step
    critic_norm: str = "batch"             # the normalisation a critic may use ("batch" or "none": no BN, GP family)
    #: whether a larger critic score means "more real" (False for EBGAN's energies)
    real_is_high: bool = True

    def decision_threshold(self) -> float | None:
        """The raw critic score that separates "real" from "fake" (critic accuracy monitors, ADA's r_t); None
        when the critic has no absolute scale (IPM critics, relativistic losses: the monitors then use the
        midpoint of the batch's mean real and mean fake scores)."""
        return None

    def critic_repeats(self, step: int) -> int:
        """Critic updates before generator step ``step`` (``Phase(repeats=loss.critic_repeats)``)."""
        return int(self.n_critic)

    def after_critic_step(self, critic: Any, terms: LossTerms) -> None:
        """Everything a loss needs after each critic optimizer step; systems call only this.

        Clips weights (``clip_weights``; submodules with ``exempt_from_weight_clip = True`` are skipped),
        retracts Stiefel heads (modules with a ``retract_()`` method, e.g. McGAN's covariance head) and then
        calls :meth:`after_d_step` (Fisher lambda).  ``critic`` may be a module, a list of modules or None.
        """
        from gan_models.regularizers.post_step import critic_post_step
        critic_post_step(critic, clip=self.clip_weights)
        self.after_d_step(terms)

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        raise NotImplementedError

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        raise NotImplementedError

    # ---- training state (Fisher lambda ...) ----
    def after_d_step(self, terms: LossTerms) -> None:
        """Called after each critic optimizer step with that step's terms."""

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if state:
            raise KeyError(f"{type(self).__name__} has no state, got keys {sorted(state)}")
