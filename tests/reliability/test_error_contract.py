"""The error contract's mechanism (pipelines/errors.py) and that nothing bypasses it: every stage's ``main`` is
wrapped by ``stage_entry``, and every section of the project's params.yaml is a known one."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

from pipelines import stages
from pipelines.errors import InputError, one_line, run_guarded
from pipelines.params import SECTIONS, load_params

ROOT = Path(__file__).resolve().parents[2]


def test_every_stage_main_goes_through_the_error_contract():
    names = [m.name for m in pkgutil.iter_modules(stages.__path__) if not m.name.startswith("_")]
    assert {"ingest", "register", "validate", "split", "tune", "train", "evaluate"} <= set(names)
    for name in names:
        mod = importlib.import_module(f"pipelines.stages.{name}")
        if hasattr(mod, "main"):
            assert getattr(mod.main, "error_contract", None), f"pipelines/stages/{name}.py: main is not @stage_entry"


@pytest.mark.parametrize("module", ["pipelines.retrain", "pipelines.quality", "pipelines.demo"])
def test_the_other_entry_points_go_through_the_error_contract(module):
    assert getattr(importlib.import_module(module).main, "error_contract", None), f"{module}.main is not guarded"


def test_the_projects_params_file_uses_known_sections_only():
    params = load_params(ROOT / "params.yaml")
    assert set(params) <= set(SECTIONS)


def test_one_line_messages():
    assert one_line(ValueError("a\n  b\n\nc")) == "a b c"
    assert one_line(KeyError("unknown baseline 'x'; known: ['a']")) == "unknown baseline 'x'; known: ['a']"
    err = NotADirectoryError(20, "Not a directory", "out/file/x.png")
    assert one_line(err) == "out/file/x.png: Not a directory"


def test_bad_input_is_one_line_and_bugs_keep_their_traceback(capsys, monkeypatch):
    def bad():
        raise InputError("x.png: broken\nsecond line")
    assert run_guarded("medfuse demo", bad) == 2
    assert capsys.readouterr().err == "medfuse demo: error: x.png: broken second line\n"

    def bug():
        raise RuntimeError("a bug in medfuse")
    with pytest.raises(RuntimeError):
        run_guarded("medfuse demo", bug)
    monkeypatch.setenv("MEDFUSE_TRACEBACK", "1")
    with pytest.raises(InputError):
        run_guarded("medfuse demo", bad)
