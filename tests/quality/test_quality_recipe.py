"""The quality recipe (make quality): the recipe is a valid params file for every stage, the workspace is a copy
of the project that never touches the user's own files, and bad DATA is a one-line error."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines import quality

ROOT = Path(__file__).resolve().parents[2]


def test_merge_replaces_search_spaces_and_merges_the_rest():
    base = {"train": {"steps": 60, "batch_size": 4, "overrides": {"a": 1}}, "tune": {"space": {"x": 1, "y": 2}}}
    rec = {"train": {"steps": 1500, "overrides": {"b": 2}}, "tune": {"space": {"z": 3}}}
    out = quality.merged(base, rec)
    assert out["train"] == {"steps": 1500, "batch_size": 4, "overrides": {"b": 2}}
    assert out["tune"]["space"] == {"z": 3}                       # a search space is replaced as a whole
    assert base["train"]["steps"] == 60                            # inputs untouched


def test_recipe_parses_for_every_stage(tmp_path):
    """Every section of params.yaml + recipes/quality.yaml passes the stages' strict parsers (a typo in the recipe
    fails here, not after 20 minutes of registration)."""
    from pipelines.data_config import data_params
    from pipelines.params import SECTIONS, section
    from pipelines.phantom.generate import PhantomParams
    from pipelines.registration.config import RegisterParams
    from pipelines.stages.evaluate import EvaluateParams
    from pipelines.stages.ingest import IngestParams
    from pipelines.stages.split import SplitParams
    from pipelines.stages.train import loop_config
    from pipelines.stages.tune import TuneParams, search_space
    from data_contracts import ValidateParams
    from pipelines.tracking.promotion import MlflowParams, check_rule
    from pipelines.training.config import TrainParams, apply_train_updates, parse_loop_config
    params = quality.recipe_params(ROOT / "params.yaml", ROOT / "recipes" / "quality.yaml", tmp_path)
    assert set(params) <= set(SECTIONS)
    d = data_params(params)
    assert d.source.kind == "aanlib" and d.source.path == str(tmp_path) and d.size == 256
    for cls, name in ((PhantomParams, "phantom"), (IngestParams, "ingest"), (RegisterParams, "register"),
                      (ValidateParams, "validate"), (SplitParams, "split"), (EvaluateParams, "evaluate")):
        section(params, cls, name)
    tp = section(params, TrainParams, "train")
    assert tp.tasks == ["MRI_CT", "MRI_PET", "MRI_SPECT"] and tp.preset == "smoothmax_gan"
    tune = section(params, TuneParams, "tune")
    assert "preset" not in tune.space                              # the recipe searches one fast preset
    search_space(tune.space, 0, tp.preset)
    # every sampled key is a valid build override of the preset (each choice's first value builds)
    import gan_models
    from pipelines.training.inference import expand_indexed_overrides
    first = {k: next(iter(v.values()))[0] for k, v in tune.space.items()}     # choice / grid / loguniform
    from pipelines.params import to_dict
    d_train = apply_train_updates(to_dict(tp), first, "recipe")
    gan_models.build(tp.preset, **expand_indexed_overrides(tp.preset, d_train["overrides"]))
    assert first["overrides.judges.detail.weight"] > 0             # the recipe stays a GAN
    parse_loop_config(loop_config(tp, "MRI_CT", tmp_path))
    rule = section(params, MlflowParams, "mlflow").promotion
    check_rule(rule, section(params, EvaluateParams, "evaluate").baselines, ["EN"])
    assert rule.metric == "headline_win_rate"


def test_workspace_copies_the_project_and_only_what_changed(tmp_path):
    repo = tmp_path / "repo"
    (repo / "pipelines").mkdir(parents=True)
    (repo / "pipelines" / "a.py").write_text("x = 1\n")
    (repo / "runs" / "old").mkdir(parents=True)
    (repo / "runs" / "old" / "junk.txt").write_text("never copied")
    (repo / "data").mkdir()
    (repo / "data" / "pairs.parquet").write_text("outputs stay out")
    ws = tmp_path / "ws"
    assert quality.sync_workspace(repo, ws) == 1                   # not a git checkout: walk, skipping outputs
    assert (ws / "pipelines" / "a.py").read_text() == "x = 1\n"
    assert not (ws / "runs").exists() and not (ws / "data").exists()
    assert quality.sync_workspace(repo, ws) == 0                   # unchanged files are not rewritten
    (repo / "pipelines" / "a.py").write_text("x = 2\n")
    assert quality.sync_workspace(repo, ws) == 1


def test_project_files_come_from_git_in_a_checkout():
    files = {str(p) for p in quality.project_files(ROOT)}
    assert {"dvc.yaml", "params.yaml", "recipes/quality.yaml", "pipelines/quality.py"} <= files
    assert not any(f.startswith(("runs/", ".venv/", "data/")) for f in files)


@pytest.mark.parametrize("layout,fragment", [(None, "must be an AANLIB-style folder"),
                                             ("empty", "no MRI_CT, MRI_PET or MRI_SPECT folder")])
def test_bad_data_folder_is_one_line(tmp_path, capsys, layout, fragment):
    from pipelines.errors import run_guarded
    data = tmp_path / "d"
    if layout == "empty":
        data.mkdir()
    assert run_guarded("medfuse-quality", quality.main, ["--data", str(data), "--workspace",
                                                          str(tmp_path / "ws")]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1
    assert not (tmp_path / "ws").exists()                          # nothing was built for bad input


def test_recipe_is_yaml_with_a_data_section():
    rec = yaml.safe_load((ROOT / "recipes" / "quality.yaml").read_text())
    assert rec["data"]["size"] == 256 and rec["register"]["workers"] == 2
