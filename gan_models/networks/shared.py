"""Parameter sharing between copies of one network (MAD-GAN, MGAN, CoGAN).

The multi-generator / coupled topologies build ``k`` copies of the same network and make some of their layers
*the same module objects* (so the parameters are the same tensors, updated once per optimizer step and
deduplicated by ``nn.Module.parameters()``).  Which layers to share is stated in weight layers counted in
**forward-execution order** (not registration order, which need not follow the data flow):

* :func:`execution_units` runs the network once on an example input with forward hooks and lists its
  *parameter units* (modules that own parameters directly, or a spectrally-normalised layer as a whole) in
  the order they first run, flagging the weight layers (Linear / Conv / ConvTranspose / Embedding);
* :func:`first_layers` / :func:`last_layers` return the units of the first / last ``n`` weight layers,
  including the norms etc. that run with them (first: every unit before the (n+1)-th weight layer; last:
  every unit from the n-th-last weight layer on);
* :class:`TiedEnsemble` holds the copies in one module (one ``ModuleList``, so a DDP wrapper or an EMA
  ``deepcopy`` sees every shared tensor once) and ties the named units with :func:`tie_modules`.

**Joint pass.**  ``ensemble(x, None)`` runs all copies on one batch made of ``k`` equal chunks (chunk ``i``
for copy ``i``): every *private* unit is applied chunk by chunk (copy ``i``'s unit on chunk ``i``) and every
*shared* unit runs **once on the whole batch**.  This is how the MGAN authors' code runs its generators
(qhoangdl/MGAN ``models.py``: per-generator input layer and BN, ``tf.concat``, then the shared layers on the
concatenated batch) and the only way a shared BatchNorm sees the statistics of the mixture it is trained on:
running the copies one by one gives a shared BatchNorm per-copy statistics in training (it re-centres each
copy separately) and running statistics that match no copy in eval mode.  Without batch-coupled layers the
joint pass equals running the copies one by one.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                 nn.ConvTranspose3d, nn.Embedding)


@dataclass(frozen=True)
class Unit:
    name: str            # dotted path inside the network
    is_weight_layer: bool


def _is_unit(name: str, module: nn.Module) -> bool:
    if ".parametrizations" in f".{name}":          # inside a parametrised layer: the layer is the unit
        return False
    if hasattr(module, "parametrizations"):
        return True
    return any(True for _ in module.parameters(recurse=False))


def execution_units(net: nn.Module, *example: Any, **example_kwargs: Any) -> list[Unit]:
    """The network's parameter units in the order a forward pass on ``example`` first runs them.

    The forward runs under ``torch.no_grad()`` in eval mode (BatchNorm running statistics and spectral-norm
    vectors are left untouched) and the previous train/eval mode is restored.
    """
    order: list[str] = []
    hooks = []
    for name, module in net.named_modules():
        if name and _is_unit(name, module):
            hooks.append(module.register_forward_pre_hook(
                lambda m, args, _n=name: order.append(_n) if _n not in order else None))
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(*example, **example_kwargs)
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)
    modules = dict(net.named_modules())
    missing = [n for n, m in modules.items() if n and _is_unit(n, m) and n not in order]
    if missing:
        raise ValueError(f"{type(net).__name__}: parameter units {missing} did not run on the example input; "
                         f"cannot place them in execution order")
    return [Unit(n, isinstance(modules[n], WEIGHT_LAYERS)) for n in order]


def _weight_positions(units: Sequence[Unit]) -> list[int]:
    return [i for i, u in enumerate(units) if u.is_weight_layer]


def first_layers(units: Sequence[Unit], n: int) -> list[str]:
    """Units of the first ``n`` weight layers (everything that runs before the (n+1)-th weight layer)."""
    pos = _weight_positions(units)
    if not 0 <= n <= len(pos):
        raise ValueError(f"cannot share the first {n} weight layers of a network that has {len(pos)}")
    end = pos[n] if n < len(pos) else len(units)
    return [u.name for u in units[:end]]


def last_layers(units: Sequence[Unit], n: int) -> list[str]:
    """Units of the last ``n`` weight layers (everything from the n-th-last weight layer on)."""
    pos = _weight_positions(units)
    if not 0 <= n <= len(pos):
        raise ValueError(f"cannot share the last {n} weight layers of a network that has {len(pos)}")
    if n == 0:
        return []
    return [u.name for u in units[pos[len(pos) - n]:]]


def all_but_first_layers(units: Sequence[Unit], n: int = 1) -> list[str]:
    """Units after the first ``n`` weight layers (MGAN: every layer but the input layer is shared)."""
    private = set(first_layers(units, n))
    return [u.name for u in units if u.name not in private]


def _split(name: str) -> tuple[str, str]:
    parent, _, attr = name.rpartition(".")
    return parent, attr


def tie_modules(nets: Sequence[nn.Module], names: Iterable[str]) -> None:
    """Make ``nets[j].<name>`` the very module object ``nets[0].<name>`` for every ``j`` and name."""
    names = list(names)
    if len(nets) < 2:
        return
    for j, net in enumerate(nets[1:], start=1):
        for name in names:
            try:
                source = nets[0].get_submodule(name)
                net.get_submodule(name)
            except AttributeError as e:
                raise ValueError(f"cannot tie {name!r}: network {j} has no such submodule ({e})") from None
            parent, attr = _split(name)
            setattr(net.get_submodule(parent) if parent else net, attr, source)


class _PerChunk(nn.Module):
    """Applies ``units[i]`` to the i-th of ``len(units)`` equal chunks of the batch (dim 0), in order."""

    def __init__(self, units: Sequence[nn.Module]):
        super().__init__()
        self.units = nn.ModuleList(units)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        chunks = x.chunk(len(self.units), dim=0)
        return torch.cat([u(c, *args, **kwargs) for u, c in zip(self.units, chunks)], dim=0)


def joint_network(members: Sequence[nn.Module], shared: Iterable[str]) -> nn.Module:
    """A view of ``members[0]`` whose private units are :class:`_PerChunk` over every member's unit.

    Only the containers on the paths from the root to a private unit are copied (``copy.deepcopy`` with a
    memo that maps every other module to itself), so the view owns no parameter or buffer of its own: every
    tensor it uses is a member's, and training/eval flags of the units are the members'.
    """
    net = members[0]
    shared = set(shared)
    modules = dict(net.named_modules())
    private = [n for n, m in modules.items() if n and _is_unit(n, m) and n not in shared]
    on_path = {""} | {n.rsplit(".", i)[0] for n in private for i in range(1, n.count(".") + 1)}
    owners = [n for n in on_path if any(True for _ in modules[n].parameters(recurse=False))
              or any(True for _ in modules[n].buffers(recurse=False))]
    if owners:
        raise ValueError(f"{type(net).__name__}: modules {owners} own tensors and contain private units; "
                         "the joint pass cannot route through them")
    memo: dict[int, Any] = {}
    for name, module in modules.items():
        if name in private:
            memo[id(module)] = _PerChunk([m.get_submodule(name) for m in members])
        elif name not in on_path and not any(name.startswith(p + ".") for p in private):
            memo[id(module)] = module
    return copy.deepcopy(net, memo)


class TiedEnsemble(nn.Module):
    """``k`` copies of one network in a single module, with the named units shared by all copies.

    ``forward(x, index)`` runs copy ``index``; ``members[i]`` is copy ``i``.  The shared units are the same
    module objects in every copy (``members[0].<name> is members[i].<name>``).  ``forward(x, None)`` is the
    joint pass (module docstring): ``x`` holds ``k`` equal chunks, chunk ``i`` for copy ``i``; the output keeps
    that order.
    """

    def __init__(self, factory: Callable[[], nn.Module], k: int, shared: Iterable[str]):
        super().__init__()
        if k < 1:
            raise ValueError(f"an ensemble needs at least one member, got k={k}")
        members = [factory() for _ in range(k)]
        self.shared_names: tuple[str, ...] = tuple(shared)
        tie_modules(members, self.shared_names)
        self.members = nn.ModuleList(members)

    def __len__(self) -> int:
        return len(self.members)

    def forward(self, x: torch.Tensor, index: int | None, *args: Any, **kwargs: Any) -> Any:
        if index is not None:
            return self.members[index](x, *args, **kwargs)
        k = len(self.members)
        if x.shape[0] % k:
            raise ValueError(f"the joint pass of a {k}-member ensemble needs a batch divisible by {k} "
                             f"(one equal chunk per member), got {x.shape[0]}")
        joint = self.__dict__.get("_joint")
        if joint is None:          # built on first use; not a registered submodule (it owns no tensor)
            joint = joint_network(list(self.members), self.shared_names)
            object.__setattr__(self, "_joint", joint)
        joint.train(self.training)
        return joint(x, *args, **kwargs)

    def shared_parameters(self) -> list[nn.Parameter]:
        ids = {id(p) for p in self.members[0].parameters()}
        for m in self.members[1:]:
            ids &= {id(p) for p in m.parameters()}
        return [p for p in self.members[0].parameters() if id(p) in ids]

    def private_parameters(self, index: int) -> list[nn.Parameter]:
        shared = {id(p) for p in self.shared_parameters()}
        return [p for p in self.members[index].parameters() if id(p) not in shared]

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            members = self._modules.get("members")
            if members is not None and len(members) and hasattr(members[0], name) and not name.startswith("_"):
                return getattr(members[0], name)          # latent_dim, feature_dim, ... of the copies
            raise
