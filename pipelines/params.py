"""Reading ``params.yaml`` with ``--set key=value`` overrides into typed, strict dataclasses.

Every stage module (``python -m pipelines.stages.<name>``) calls :func:`stage_main_args` and then
:func:`section` to get its typed config.  Unknown keys are rejected with the dotted path of the key and the
list of keys that are allowed, so a typo in ``params.yaml`` never silently falls back to a default.
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gan_models.config import ConfigError, from_dict, to_dict

T = TypeVar("T")


# One implementation of the strict dataclass parsing for the zoo and the pipeline: ``gan_models.config``
# (the zoo stands alone, so it owns it); ParamsError is the same class, so ``except ParamsError`` also catches
# a bad key inside a model config.
ParamsError = ConfigError
__all__ = ["ParamsError", "from_dict", "to_dict", "parse_override", "apply_overrides", "load_params", "section",
           "stage_argparser", "stage_main_args"]


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b.c=value"`` -> (["a", "b", "c"], value parsed as YAML: numbers, booleans, lists, null)."""
    if "=" not in text:
        raise ParamsError(f"--set {text!r}: expected key=value (e.g. data.source.kind=aanlib)")
    key, _, raw = text.partition("=")
    keys = [k for k in key.strip().split(".") if k]
    if not keys:
        raise ParamsError(f"--set {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except yaml.YAMLError:
        value = raw
    return keys, value


def apply_overrides(params: dict, overrides: list[str] | None) -> dict:
    """Return a deep copy of ``params`` with each ``key=value`` override applied (new keys are created;
    the typed section loader rejects the ones that do not exist)."""
    out = copy.deepcopy(params)
    for text in overrides or []:
        keys, value = parse_override(text)
        node = out
        for k in keys[:-1]:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                raise ParamsError(f"--set {text!r}: {k!r} is a value, not a section")
            node = nxt
        node[keys[-1]] = value
    return out


def load_params(path: str | Path = "params.yaml", overrides: list[str] | None = None) -> dict:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: params file not found (run from the project directory or pass --params)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: the top level must be a mapping")
    return apply_overrides(data, overrides)


def section(params: dict, cls: type[T], *keys: str) -> T:
    """Typed view of ``params[keys[0]][keys[1]]...``; a missing section gives the defaults."""
    node: Any = params
    for k in keys:
        node = (node or {}).get(k, {}) if isinstance(node, dict) else {}
    return from_dict(cls, node, ".".join(keys))


def stage_argparser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="params file (default: ./params.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. --set data.source.kind=aanlib (repeatable)")
    return p


def stage_main_args(description: str, argv: list[str] | None = None) -> tuple[argparse.Namespace, dict]:
    """Parse the common stage arguments and return (args, params with overrides applied)."""
    args = stage_argparser(description).parse_args(argv)
    return args, load_params(args.params, args.overrides)
