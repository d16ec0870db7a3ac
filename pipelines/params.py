"""Reading ``params.yaml`` with ``--set key=value`` overrides into typed, strict dataclasses.

Every stage module (``python -m pipelines.stages.<name>``) calls :func:`stage_main_args` and then
:func:`section` to get its typed config.  Unknown keys are rejected with the dotted path of the key and the
list of keys that are allowed, so a typo in ``params.yaml`` never silently falls back to a default.  The
top-level sections are the ones in :data:`SECTIONS`: any other (a ``splitt:`` section, ``--set trian.steps=10``)
is rejected by :func:`load_params`, whichever stage reads the file; a new section is added there.
"""
from __future__ import annotations

import argparse
import copy
import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gan_models.config import ConfigError, from_dict, to_dict

T = TypeVar("T")


# One implementation of the strict dataclass parsing for the zoo and the pipeline: ``gan_models.config``
# (the zoo stands alone, so it owns it); ParamsError is the same class, so ``except ParamsError`` also catches
# a bad key inside a model config.
ParamsError = ConfigError
__all__ = ["ParamsError", "SECTIONS", "from_dict", "to_dict", "parse_override", "apply_overrides", "load_params",
           "section", "stage_argparser", "stage_main_args"]


#: the top-level sections of params.yaml and the stages that read them
SECTIONS: dict[str, str] = {
    "data": "ingest (data.source, data.size), validate (data.size)",
    "phantom": "ingest with data.source.kind=phantom",
    "ingest": "ingest",
    "register": "register",
    "validate": "validate",
    "split": "split, validate",
    "tune": "tune",
    "train": "tune, train; train.plugins: every command that loads a model",
    "evaluate": "evaluate",
    "mlflow": "evaluate (promotion)",
}


def _unknown_section(name: str, where: str) -> ParamsError:
    near = difflib.get_close_matches(name, list(SECTIONS), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return ParamsError(f"{where}: unknown section {name!r}{hint}; known sections: {sorted(SECTIONS)}")


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
        if keys[0] not in SECTIONS:
            raise _unknown_section(keys[0], f"--set {text!r}")
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
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    if data is None:
        raise ParamsError(f"{path}: the file is empty; it needs the sections {sorted(SECTIONS)} (or some of them)")
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    for name in data:
        if name not in SECTIONS:
            raise _unknown_section(str(name), str(path))
    return apply_overrides(data, overrides)


def section(params: dict, cls: type[T], *keys: str) -> T:
    """Typed view of ``params[keys[0]][keys[1]]...``; a missing section gives the defaults."""
    node: Any = params
    for i, k in enumerate(keys):
        node = node.get(k)
        if node is None:
            node = {}
        if not isinstance(node, dict):
            raise ParamsError(f"{'.'.join(keys[:i + 1])}: expected a section (a mapping of keys), got {node!r}")
    return from_dict(cls, node, ".".join(keys))


def stage_argparser(description: str) -> argparse.ArgumentParser:
    from pipelines.errors import OneLineArgumentParser
    p = OneLineArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="params file (default: ./params.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. --set data.source.kind=aanlib (repeatable)")
    return p


def stage_main_args(description: str, argv: list[str] | None = None) -> tuple[argparse.Namespace, dict]:
    """Parse the common stage arguments and return (args, params with overrides applied)."""
    args = stage_argparser(description).parse_args(argv)
    return args, load_params(args.params, args.overrides)
