"""Train/tune config plumbing: updates from tuning, list-indexed build overrides, config keys."""
from __future__ import annotations

import pytest

from pipelines.params import ParamsError
from pipelines.training.config import apply_train_updates, config_key
from pipelines.training.inference import build_system, expand_indexed_overrides


def test_apply_train_updates_force_and_fill():
    base = {"loss": None, "preset": "ddcgan", "overrides": {"a.b": 1}, "steps": 10}
    upd = {"loss": "hinge", "preset": "fusiongan", "overrides.a.b": 2, "overrides.c": 3}
    assert apply_train_updates(base, upd, "x") == {"loss": "hinge", "preset": "fusiongan",
                                                   "overrides": {"a.b": 2, "c": 3}, "steps": 10}
    assert apply_train_updates(base, upd, "x", fill_only=True) == {"loss": "hinge", "preset": "ddcgan",
                                                                   "overrides": {"a.b": 1, "c": 3}, "steps": 10}
    with pytest.raises(ParamsError, match="'stepz' is not a train key"):
        apply_train_updates(base, {"stepz": 1}, "x")
    with pytest.raises(ParamsError, match="only top-level train keys"):
        apply_train_updates(base, {"resources.num_workers": 1}, "x")


def test_indexed_overrides_reach_list_items_of_the_preset():
    over = {"stages.G.content.1.weight": 400.0, "stages.G.generator.width": 4, "g_optimizer.lr": 3e-4}
    out = expand_indexed_overrides("fusiongan", over)
    assert out["g_optimizer.lr"] == 3e-4 and "stages.G.generator.width" not in out
    g = out["stages"]["G"]
    assert g["generator"]["width"] == 4 and g["content"][1]["weight"] == 400.0
    assert g["content"][0]["weight"] == 100.0                      # untouched items keep the preset's value
    system = build_system({"preset": "fusiongan", "loss": "hinge", "overrides": over})
    assert system.contents[0][1].weight == 400.0 and system.loss_name == "hinge"
    assert system.optimizers["G"].param_groups[0]["lr"] == pytest.approx(3e-4)
    with pytest.raises(KeyError, match="not an index of a 2-item list"):
        expand_indexed_overrides("fusiongan", {"stages.G.content.5.weight": 1.0})
    assert expand_indexed_overrides("fusiongan", {"x.y": 1}) == {"x.y": 1}


def test_config_key_ignores_run_plumbing_only():
    cfg = {"task": "MRI_PET", "steps": 10, "run_id": "a", "tracking_uri": "x", "callbacks": ["m:f"]}
    assert config_key(cfg) == config_key({**cfg, "run_id": "b", "callbacks": []})
    assert config_key(cfg) != config_key({**cfg, "steps": 11})


def test_per_preset_keys_are_left_unset_for_presets_without_an_entry():
    """tune.space per_preset: smoothmax_gan's p is searched for smoothmax_gan only; another preset's trial leaves
    the key unset instead of failing or building with p=None."""
    from types import SimpleNamespace

    from pipelines.stages.tune import search_space
    space = search_space({"preset": {"choice": ["smoothmax_gan", "dense_lmax"]},
                          "overrides.stages.G.generator.p": {"per_preset": {"smoothmax_gan": {"choice": [4.0]}}}},
                         seed=0, default_preset="fusiongan")
    sample = space["overrides.stages.G.generator.p"].func
    assert sample(SimpleNamespace(config={"preset": "smoothmax_gan"})) == 4.0
    assert sample(SimpleNamespace(config={"preset": "dense_lmax"})) is None
    out = apply_train_updates({"preset": None, "overrides": {}},
                              {"preset": "dense_lmax", "overrides.stages.G.generator.p": None}, "t")
    assert out == {"preset": "dense_lmax", "overrides": {}}
