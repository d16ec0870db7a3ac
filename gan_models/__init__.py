"""medfuse's GAN zoo: registries of losses, regularizers, blocks, networks and systems, and paper presets.

``gan_models.build(name, **overrides)`` builds a ready system (optimizers created) from a preset name
(``presets/<name>.yaml``) or, when no preset has that name, from a system name in ``SYSTEMS``.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from gan_models.registry import (AUGMENTATIONS, BLOCKS, CONTENT_LOSSES, DISCRIMINATORS,  # noqa: F401
                                 GENERATORS, LOSSES, REGULARIZERS, SYSTEMS, Registry)

_SUBPACKAGES = ("losses", "regularizers", "blocks", "networks", "systems", "augment")
_loaded = False


def load_all() -> None:
    """Import every module of the registry subpackages so their ``@register`` decorators run."""
    global _loaded
    if _loaded:
        return
    for sub in _SUBPACKAGES:
        pkg = importlib.import_module(f"gan_models.{sub}")
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"gan_models.{sub}."):
            importlib.import_module(info.name)
    _loaded = True


def list_presets() -> list[str]:
    """Names of the bundled presets (``gan_models.presets`` is the subpackage that holds them)."""
    from gan_models.presets import preset_names
    return preset_names()


def build(name: str, **overrides: Any):
    """Build a system from a preset (or a bare system name) with ``overrides`` merged into its params."""
    from gan_models.presets import preset_names, resolve_preset
    load_all()
    if name in preset_names():
        data = resolve_preset(name)
        return build_from_params(data["system"], data.get("params", {}), **overrides)
    if name in SYSTEMS:
        return build_from_params(name, {}, **overrides)
    raise KeyError(f"unknown preset or system {name!r}; presets: {preset_names()}; systems: {SYSTEMS.names()}")


def build_from_params(system_name: str, params: dict[str, Any], **overrides: Any):
    """Build ``system_name`` from explicit preset params (e.g. the ones a checkpoint recorded when it was trained)
    with ``overrides`` merged in: the same model whatever the preset file says today."""
    from gan_models.presets import merge_overrides
    load_all()
    return SYSTEMS.build(system_name, **merge_overrides(system_name, params, overrides)).setup()


def zoo() -> dict[str, list[str]]:
    """Every registered name: losses, regularizers, systems, presets and the generic training options
    (``augmentations``, learning-rate ``schedules``, stability ``monitors``)."""
    from gan_models.presets import preset_names
    from gan_models.training.monitors import DETECTORS
    from gan_models.training.schedules import SCHEDULES
    load_all()
    return {"losses": LOSSES.names(), "regularizers": REGULARIZERS.names(), "systems": SYSTEMS.names(),
            "presets": preset_names(), "augmentations": AUGMENTATIONS.names(), "schedules": SCHEDULES.names(),
            "monitors": DETECTORS.names()}
