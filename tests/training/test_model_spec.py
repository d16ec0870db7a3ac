"""A checkpoint's model spec records its preset's params as they were at training time, so editing a preset file
(a new default such as smoothmax_gan's cap_to_sources) never changes what an existing checkpoint builds."""
from __future__ import annotations

import copy

import gan_models.presets as presets
from gan_models.presets import resolve_preset
from pipelines.training.config import LoopConfig
from pipelines.training.inference import build_system


def _spec(**overrides):
    cfg = LoopConfig(task="MRI_PET", preset="smoothmax_gan", loss=None, train_path="t", val_path="v",
                     overrides={"stages.G.generator.width": 4, "stages.G.content.1.weight": 2.5, **overrides})
    return cfg.model_spec()


def test_spec_records_the_resolved_preset():
    spec = _spec()
    data = resolve_preset("smoothmax_gan")
    assert spec["resolved"] == {"system": data["system"], "params": data["params"]}
    assert spec["preset"] == "smoothmax_gan" and spec["overrides"]["stages.G.generator.width"] == 4


def test_checkpoint_builds_its_recorded_preset_after_the_preset_file_changes(monkeypatch):
    spec = _spec()
    before = build_system(spec).generators["G"]
    assert before.cap_to_sources is True and before.p == 6.0
    real = presets._read

    def edited(name):                      # the preset file as a later version might have it
        data = copy.deepcopy(real(name))
        if name == "smoothmax_gan":
            data["params"]["stages"]["G"]["generator"].update(p=12.0, cap_to_sources=False)
            data["params"]["stages"]["G"]["content"][1]["target"] = "a"
        return data
    monkeypatch.setattr(presets, "_read", edited)
    recorded = build_system(spec)
    g = recorded.generators["G"]
    assert g.cap_to_sources is True and g.p == 6.0 and g.body[0].out_channels == 4    # recorded, plus overrides
    grad = recorded.contents[0][1]               # the list-indexed override lands on the recorded content list
    assert grad.weight == 2.5 and grad.params["target"] == "max"
    legacy = {k: v for k, v in spec.items() if k != "resolved"}                      # written before the record
    g_legacy = build_system(legacy).generators["G"]
    assert g_legacy.cap_to_sources is False and g_legacy.p == 12.0                    # follows today's file
    assert build_system(legacy).contents[0][1].params["target"] == "a"
