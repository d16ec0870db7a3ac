"""Loading a model runs no code that came with it (issue 13 §4).

* A crafted MLflow model folder whose pyfunc writes a file when imported: ``medfuse fuse --model file:...``
  used ``mlflow.pyfunc.load_model``, which imported it (the file appeared) before the "not a medfuse model"
  check.  Now only ``MLmodel`` (YAML) and the checkpoint artifact are read.
* A checkpoint whose spec names plugin modules: imported only when allowed (train.plugins / --allow-plugin).
* Corrupt, truncated or pickled-object checkpoints: one line, never torch's "weights_only=False" advice.
"""
from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

TRAINING_TESTS = Path(__file__).resolve().parents[1] / "training"
if str(TRAINING_TESTS) not in sys.path:
    sys.path.insert(0, str(TRAINING_TESTS))

from training_fixtures import blob_pair, toy_loop_config, write_split_dir  # noqa: E402

from pipelines.cli import main  # noqa: E402
from pipelines.imaging.io import write_png  # noqa: E402
from pipelines.model_loading import load_fusion_model, read_checkpoint_safely  # noqa: E402

TOY = ["--allow-plugin", "toy_fusion"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    from pipelines.training.loop import run_in_process
    d = tmp_path_factory.mktemp("loadck")
    run_in_process(toy_loop_config(write_split_dir(d / "splits"), steps=2, val_every=2, checkpoint_every=2),
                   d / "ck")
    return d / "ck" / "step_00000002" / "checkpoint.pt"


@pytest.fixture()
def pair(tmp_path):
    a, b = blob_pair(np.random.default_rng(0), 32)
    write_png(tmp_path / "a.png", a)
    write_png(tmp_path / "b.png", b)
    return ["--a", str(tmp_path / "a.png"), "--b", str(tmp_path / "b.png"), "-o", str(tmp_path / "f.png")]


def _crafted_model(folder: Path, marker: Path, checkpoint: Path | None) -> Path:
    """An MLflow 'models from code' folder whose code writes ``marker`` when it is imported."""
    folder.mkdir(parents=True)
    (folder / "evil.py").write_text(textwrap.dedent(f"""
        from pathlib import Path
        Path({str(marker)!r}).write_text("the model's own code ran")
        from mlflow.models import set_model
        from mlflow.pyfunc import PythonModel
        class M(PythonModel):
            model = None
            def predict(self, context, model_input, params=None):
                return model_input
        set_model(M())
    """))
    flavour = {"loader_module": "mlflow.pyfunc.loaders.code_model", "model_code_path": "evil.py",
               "python_version": "3.11", "env": {"virtualenv": "python_env.yaml"}}
    if checkpoint is not None:
        (folder / "artifacts").mkdir()
        shutil.copy(checkpoint, folder / "artifacts" / "checkpoint.pt")
        flavour["artifacts"] = {"checkpoint": {"path": "artifacts/checkpoint.pt"}}
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"python_function": flavour},
                                                    "mlflow_version": "3.17.2"}))
    return folder


def test_crafted_model_without_checkpoint_is_refused_without_running_its_code(tmp_path, pair, capsys):
    marker = tmp_path / "pwned.txt"
    model = _crafted_model(tmp_path / "evil_model", marker, checkpoint=None)
    assert main(["fuse", "--model", model.as_uri(), *pair]) == 2
    err = capsys.readouterr().err
    assert "not a medfuse fusion model" in err and err.count("\n") == 1, err
    assert not marker.exists(), "the model's code ran"


def test_crafted_model_with_a_checkpoint_is_used_without_running_its_code(tmp_path, pair, ckpt):
    marker = tmp_path / "pwned.txt"
    model = _crafted_model(tmp_path / "evil_model", marker, checkpoint=ckpt)
    assert main(["fuse", *TOY, "--model", model.as_uri(), *pair]) == 0
    assert not marker.exists(), "the model's code ran"
    assert (tmp_path / "f.png").exists()


def test_plugins_are_imported_only_when_allowed(tmp_path, pair, ckpt, capsys, monkeypatch):
    """A checkpoint naming a module that writes a file on import: refused unless allowed."""
    marker = tmp_path / "imported.txt"
    mod = tmp_path / "mods" / "sneaky_plugin.py"
    mod.parent.mkdir()
    mod.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\nimport toy_fusion\n")
    monkeypatch.syspath_prepend(str(mod.parent))
    payload = torch.load(ckpt, weights_only=True)
    payload["meta"]["model"]["plugins"] = ["sneaky_plugin"]
    crafted = tmp_path / "crafted.pt"
    torch.save(payload, crafted)
    assert main(["fuse", "--model", str(crafted), *pair]) == 2
    err = capsys.readouterr().err
    assert "plugin module(s) ['sneaky_plugin']" in err and "train.plugins" in err and "--allow-plugin" in err
    assert not marker.exists() and "sneaky_plugin" not in sys.modules
    monkeypatch.chdir(tmp_path)                                     # allowed in params.yaml: train.plugins
    (tmp_path / "params.yaml").write_text("train:\n  plugins: [sneaky_plugin]\n")
    assert main(["fuse", "--model", str(crafted), *pair]) == 0 and marker.exists()


def test_damaged_checkpoints_give_one_line_without_torch_advice(tmp_path, ckpt, pair, capsys):
    data = ckpt.read_bytes()
    cases = {
        "truncated.pt": (data[: len(data) // 2], "not a readable checkpoint"),
        "garbage.pt": (b"\x00not a checkpoint at all" * 10, "not a readable checkpoint"),
        "empty.pt": (b"", "not a readable checkpoint"),
    }
    for name, (content, msg) in cases.items():
        (tmp_path / name).write_bytes(content)
    torch.save({"obj": np.random.default_rng(0)}, tmp_path / "pickled.pt")    # an arbitrary Python object
    cases["pickled.pt"] = (None, "refused: the file holds Python objects")
    torch.save({"format": "something-else"}, tmp_path / "foreign.pt")
    cases["foreign.pt"] = (None, "not a medfuse checkpoint")
    for name, (_, msg) in cases.items():
        assert main(["fuse", *TOY, "--model", str(tmp_path / name), *pair]) == 2, name
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1 and "weights_only" not in err and "Traceback" not in err, err
        with pytest.raises(ValueError, match=msg):
            read_checkpoint_safely(tmp_path / name)


@pytest.mark.parametrize("ref, msg", [
    ("http://example.invalid/model", "not from http://"),
    ("s3://bucket/model", "not from s3://"),
    ("/no/such/model", "model not found"),
])
def test_unsupported_references_are_refused_before_any_fetch(ref, msg, pair, capsys):
    assert main(["fuse", "--model", ref, *pair]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1


@pytest.mark.slow
def test_registered_model_loads_from_its_checkpoint_not_its_pyfunc(tmp_path, ckpt, monkeypatch):
    """models:/<name>@<alias> (what the evaluate stage and promotion use): the checkpoint artifact is fetched
    and loaded; the logged pyfunc's code is never imported."""
    import mlflow
    from pipelines.tracking.pyfunc_model import log_fusion_model
    from pipelines.tracking.registry import set_alias
    from pipelines.tracking.setup import configure, ensure_experiment
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    configure(tmp_path)
    try:
        with mlflow.start_run(experiment_id=ensure_experiment("medfuse/MRI_PET", tmp_path)):
            log_fusion_model(ckpt, registered_model_name="medfuse-MRI_PET")
        set_alias("medfuse-MRI_PET", "champion", 1)
        sys.modules.pop("pipelines.tracking.pyfunc_entry", None)
        model = load_fusion_model("models:/medfuse-MRI_PET@champion", allowed=["toy_fusion"], device="cpu")
        assert "pipelines.tracking.pyfunc_entry" not in sys.modules
        direct = load_fusion_model(str(ckpt), allowed=["toy_fusion"], device="cpu")
        a, b = blob_pair(np.random.default_rng(3), 24)
        np.testing.assert_array_equal(model.fuse(a, b), direct.fuse(a, b))
        with pytest.raises(ValueError, match="cannot fetch the MLflow model"):
            load_fusion_model("models:/medfuse-MRI_PET@nobody", allowed=["toy_fusion"])
    finally:
        mlflow.set_tracking_uri("")
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
