"""The adversarial plumbing every topology shares: losses from config, compatibility, critic/generator terms.

A topology composes these pieces instead of re-writing them:

* :func:`build_loss` turns ``"hinge"`` or ``{"name": "wgan_gp", "n_critic": 3}`` into a loss object (one
  object **per critic**: losses with training state, e.g. Fisher GAN's λ, must not be shared by two critics).
* :func:`checked_loss` builds the loss or raises a clear error for loss/system pairs that cannot work, from the
  loss's declared needs (``critic_output``, ``uses_discriminator``) and a system's explicit exclusions (the
  one rule behind every ``SYSTEM.check_loss``).
* :func:`critic_terms` = ``d_loss`` on (real, detached fake) + the loss's default regularizers and the system's
  extra ones (``apply_regularizers``: gradient penalties get the detached fakes and the real batch's labels);
  every system's critic loss goes through it, so the critic statistics (monitors, ADA) see every critic;
  :func:`generator_terms` = ``g_loss`` with the real batch through the critic when ``needs_real_in_g``
  (relativistic losses).
* :func:`critic_phase` makes the critic :class:`Phase` with the loss's schedule (``critic_repeats``: n_critic and
  WGAN's warm-up) and its post-step hook (``after_critic_step``: weight clipping, Stiefel retraction, Fisher λ).
* :func:`optimizer_spec` merges a preset's optimiser override into the loss's paper default;
  :func:`build_net` builds a registered network from ``{"name": ..., **kwargs}`` with the system's defaults,
  resolving a critic's normalisation with ``resolve_critic_norm`` (no BatchNorm under gradient penalties).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from gan_models.critic_stats import report_critic, report_generated
from gan_models.losses.base import AdversarialLoss, LossTerms, OptimizerSpec
from gan_models.networks.critic_norm import resolve_critic_norm
from gan_models.registry import LOSSES, Registry
from gan_models.regularizers.apply import apply_regularizers
from gan_models.systems.base import Batch, Phase

LossSpec = str | Mapping[str, Any]


def loss_name(spec: LossSpec) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        return spec["name"]
    raise ValueError(f"a loss is a name or a mapping with a 'name' key, got {spec!r}")


def build_loss(spec: LossSpec) -> AdversarialLoss:
    """A fresh loss object from ``"name"`` or ``{"name": ..., <constant>: value}``."""
    name = loss_name(spec)
    params = {} if isinstance(spec, str) else {k: v for k, v in spec.items() if k != "name"}
    cls = LOSSES.get(name)
    try:
        return cls(**params)
    except TypeError as e:
        raise ValueError(f"loss {name!r}: bad constants {sorted(params)} ({e})") from None


def checked_loss(system: str, spec: LossSpec, *, critic_outputs: Iterable[str] = ("score",),
                 allows_no_discriminator: bool = False, excluded: Mapping[str, str] | None = None
                 ) -> AdversarialLoss:
    """The loss built from ``spec``, or ``ValueError("system 'X' cannot use loss 'Y': <reason>")`` when the
    system cannot train it: excluded by name (with the system's reason), no discriminator (GMMN) unless the
    system can run G-only, or a critic output (``loss.critic_output``) the system does not build.

    The one compatibility rule of the zoo: ``GANSystem.check_loss`` calls it with the system's class
    attributes (``critic_outputs``, ``allows_no_discriminator``, ``excluded``)."""
    loss = build_loss(spec)
    name = loss_name(spec)
    excluded = dict(excluded or {})
    if name in excluded:
        raise ValueError(f"system {system!r} cannot use loss {name!r}: {excluded[name]}")
    if not loss.uses_discriminator:
        if allows_no_discriminator:
            return loss
        raise ValueError(f"system {system!r} cannot use loss {name!r}: the loss has no discriminator "
                         f"(moment matching on samples), but {system} is defined by its critics")
    allowed = tuple(critic_outputs)
    if loss.critic_output not in allowed:
        raise ValueError(f"system {system!r} cannot use loss {name!r}: the loss needs a critic returning "
                         f"{loss.critic_output!r} outputs; {system} builds critics returning {list(allowed)}")
    return loss


def compatible_losses(system_cls: Any) -> list[str]:
    """Names of the registered losses ``system_cls.check_loss(name)`` accepts (for tests and docs)."""
    out = []
    for name in LOSSES.names():
        try:
            system_cls.check_loss(name)
        except ValueError:
            continue
        out.append(name)
    return out


def optimizer_spec(override: Mapping[str, Any] | None, default: OptimizerSpec) -> OptimizerSpec:
    """``default`` (a loss's paper optimiser) with the keys of ``override`` replaced."""
    if not override:
        return default
    unknown = set(override) - {"name", "lr", "betas", "momentum"}
    if unknown:
        raise ValueError(f"optimizer override: unknown key(s) {sorted(unknown)}; allowed name, lr, betas, momentum")
    kw = {"name": default.name, "lr": default.lr, "betas": default.betas, "momentum": default.momentum}
    kw.update(override)
    kw["betas"] = tuple(float(b) for b in kw["betas"])
    return OptimizerSpec(**kw)


def _accepts(cls: Any, name: str) -> bool:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def build_net(registry: Registry, spec: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None,
              critic_loss: AdversarialLoss | None = None) -> nn.Module:
    """Build ``registry[spec["name"]]`` with ``defaults`` (only the keys its constructor accepts) under ``spec``.

    With ``critic_loss``, the critic's ``norm`` is resolved by :func:`resolve_critic_norm` (``spec["norm"]``
    is honoured when allowed; BatchNorm under a gradient-penalty loss raises).
    """
    if "name" not in spec:
        raise ValueError(f"a network spec needs a 'name' (one of {registry.names()}), got {dict(spec)}")
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    cls = registry.get(spec["name"])
    for k, v in (defaults or {}).items():
        if k not in kwargs and _accepts(cls, k):
            kwargs[k] = v
    if critic_loss is not None and _accepts(cls, "norm"):
        kwargs["norm"] = resolve_critic_norm(critic_loss, kwargs.get("norm"), sn=bool(kwargs.get("sn", False)))
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"{registry.kind} {spec['name']!r}: bad arguments {sorted(kwargs)} ({e})") from None


def _critic_kwargs(y: torch.Tensor | None) -> dict[str, Any]:
    return {} if y is None else {"y": y}


def critic_terms(loss: AdversarialLoss, critic: Callable, real: torch.Tensor, fake: torch.Tensor, *,
                 y: torch.Tensor | None = None, fake_y: torch.Tensor | None = None,
                 real_out: Any = None, fake_out: Any = None,
                 extra_regularizers: Iterable[tuple[str, dict[str, Any]]] = (),
                 d_loss: Callable[[Any, Any], LossTerms] | None = None) -> LossTerms:
    """The critic loss of every system: ``d_loss`` on (real, fake.detach()) plus the loss's default
    regularizers and ``extra_regularizers`` (gradient penalties on the detached batches, with the real labels).

    ``real_out`` / ``fake_out``: the critic's outputs when the system already computed them (e.g. with
    ``forward_features`` for an auxiliary head), so the critic is not run twice on the same batch.
    ``d_loss``: a replacement of ``loss.d_loss(real_out, fake_out)`` for systems whose critic objective
    combines several calls of the loss (StackGAN's matching-aware critic, VAE-GAN's two kinds of fakes).
    The critic's outputs are reported to :mod:`gan_models.critic_stats` (critic accuracy, ADA's r_t).
    """
    fake = fake.detach()
    kw = _critic_kwargs(y)
    fkw = _critic_kwargs(fake_y if fake_y is not None else y)
    real_out = critic(real, **kw) if real_out is None else real_out
    fake_out = critic(fake, **fkw) if fake_out is None else fake_out
    report_critic(loss, real_out, fake_out)
    terms = loss.d_loss(real_out, fake_out) if d_loss is None else d_loss(real_out, fake_out)
    return terms + apply_regularizers(loss, critic, real, fake, extra=extra_regularizers,
                                      critic_kwargs=kw or None)


def generator_terms(loss: AdversarialLoss, critic: Callable, fake: torch.Tensor, real: torch.Tensor | None = None,
                    *, y: torch.Tensor | None = None, real_y: torch.Tensor | None = None,
                    fake_out: Any = None, real_out: Any = None) -> LossTerms:
    """Generator loss on ``critic(fake)`` (or the given ``fake_out``); a relativistic loss also gets
    ``critic(real)`` (or the given ``real_out``).  The fakes (and reals) are reported to
    :mod:`gan_models.critic_stats` (output diversity)."""
    report_generated(fake, real)
    if loss.needs_real_in_g and real_out is None:
        if real is None:
            raise ValueError(f"{type(loss).__name__} needs a real batch in the generator step")
        real_out = critic(real, **_critic_kwargs(real_y if real_y is not None else y))
    fake_out = critic(fake, **_critic_kwargs(y)) if fake_out is None else fake_out
    return loss.g_loss(fake_out, real_out if loss.needs_real_in_g else None)


def critic_phase(name: str, optimizer: str, compute: Callable[[Batch, int], LossTerms], loss: AdversarialLoss,
                 critics: nn.Module | list[nn.Module]) -> Phase:
    """A critic phase on the loss's schedule with its post-step hook (clipping, retraction, Fisher λ)."""
    return Phase(name=name, optimizer=optimizer, compute=compute, repeats=loss.critic_repeats,
                 after_step=lambda terms: loss.after_critic_step(critics, terms))


def sample_latent(n: int, dim: int, device: torch.device, prior: str = "normal") -> torch.Tensor:
    """z ~ N(0, I) (``normal``) or U[-1, 1] (``uniform``: DCGAN / MGAN's code)."""
    if prior == "normal":
        return torch.randn(n, dim, device=device)
    if prior == "uniform":
        return torch.rand(n, dim, device=device) * 2 - 1
    raise ValueError(f"unknown latent prior {prior!r}; known: normal, uniform")


def require_keys(batch: Batch, keys: Iterable[str], system: str) -> None:
    missing = [k for k in keys if k not in batch]
    if missing:
        raise KeyError(f"system {system!r} needs batch keys {list(keys)}, missing {missing} (got {sorted(batch)})")


def shape_defaults(data_shape: Iterable[int]) -> dict[str, Any]:
    """Constructor defaults that tell a network the data's shape: ``in_shape``/``out_shape`` (MLPs) and, for
    images (C, H, W), ``in_channels``/``out_channels``/``size`` (conv nets).  ``build_net`` passes only the
    keys a constructor accepts."""
    shape = [int(s) for s in data_shape]
    out: dict[str, Any] = {"in_shape": shape, "out_shape": shape}
    if len(shape) == 3:
        out.update(in_channels=shape[0], out_channels=shape[0], size=[shape[1], shape[2]])
    return out


def loss_state(losses: Mapping[str, AdversarialLoss]) -> dict[str, Any]:
    return {k: l.state_dict() for k, l in losses.items()}


def load_loss_state(losses: Mapping[str, AdversarialLoss], state: Mapping[str, Any]) -> None:
    if set(state) != set(losses):
        raise KeyError(f"checkpoint loss states {sorted(state)} != the system's losses {sorted(losses)}")
    for k, l in losses.items():
        l.load_state_dict(state[k])
