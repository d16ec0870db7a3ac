"""Presets: the paper models by name, each a YAML config over the registries.

A preset file ``presets/<name>.yaml``::

    description: "DDcGAN (Ma et al., IEEE TIP 2020): ..."
    _base_: other_preset        # optional: start from another preset's params
    system: ddcgan              # a name in SYSTEMS
    params: {loss: nonsaturating, ...}   # keyword arguments of the system's constructor

``load_preset(name, **overrides)`` merges ``overrides`` into ``params`` (dotted keys address nested
mappings: ``{"generator.width": 32}``) and returns ``(system_name, params)``.  A dotted key under a mapping the
preset does not set starts from the **system's default** of that mapping (``GANSystem.default_params``): with
LAPGAN's default ``coarse_generator: {name: dcgan, width: 64}``, ``{"coarse_generator.width": 8}`` gives
``{name: dcgan, width: 8}``, not a mapping without a name.
"""
from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import yaml

_ALLOWED = {"description", "_base_", "system", "params", "kind", "paper"}


def preset_names() -> list[str]:
    files = resources.files(__name__)
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def _read(name: str) -> dict[str, Any]:
    path = resources.files(__name__) / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(f"unknown preset {name!r}; known: {preset_names()}")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = set(data) - _ALLOWED
    if unknown:
        raise KeyError(f"preset {name!r}: unknown key(s) {sorted(unknown)}; allowed {sorted(_ALLOWED)}")
    return data


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _set_dotted(d: dict, key: str, value: Any) -> None:
    keys = key.split(".")
    node = d
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise KeyError(f"override {key!r}: {k!r} is not a mapping")
    node[keys[-1]] = value


def resolve_preset(name: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if name in _seen:
        raise KeyError(f"preset inheritance cycle: {' -> '.join(_seen + (name,))}")
    data = _read(name)
    if "_base_" in data:
        base = resolve_preset(data["_base_"], _seen + (name,))
        merged = dict(base)
        merged["params"] = _deep_merge(base.get("params", {}), data.get("params", {}))
        for k in ("system", "description", "kind", "paper"):
            if k in data:
                merged[k] = data[k]
        data = merged
    if "system" not in data:
        raise KeyError(f"preset {name!r} names no system")
    return data


def merge_overrides(system: str, params: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``params`` with ``overrides`` applied (a copy).  A dotted key whose top-level mapping ``params`` does not
    hold starts from the system's default for it, so the default's other keys (a network's ``name``) stay."""
    from gan_models import load_all
    from gan_models.registry import SYSTEMS
    load_all()
    params = copy.deepcopy(params)
    defaults = None
    for k, v in overrides.items():
        top = k.split(".")[0]
        if "." in k and top not in params:
            if defaults is None:
                defaults = SYSTEMS.get(system).default_params()
            if isinstance(defaults.get(top), dict):
                params[top] = copy.deepcopy(defaults[top])
        _set_dotted(params, k, v)
    return params


def load_preset(name: str, **overrides: Any) -> tuple[str, dict[str, Any]]:
    data = resolve_preset(name)
    return data["system"], merge_overrides(data["system"], data.get("params", {}), overrides)
