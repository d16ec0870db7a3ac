"""Paired per-metric verdicts (model - baseline with a bootstrap CI): supported wins, losses and noise."""
import numpy as np
import pytest


def test_paired_verdicts_separate_supported_wins_from_noise():
    from pipelines.metrics.comparison import HEADLINE, paired_verdicts
    rng = np.random.default_rng(0)
    ref = {k: rng.normal(10, 3, 200) for k in HEADLINE}
    model = {k: v.copy() for k, v in ref.items()}
    model["EN"] = ref["EN"] + 0.1                               # a small but consistent gain: supported
    model["SD"] = ref["SD"] - 0.1                               # a consistent loss
    model["SF"] = ref["SF"] + rng.normal(0.05, 3, 200)          # mean above, but noise 60x the gain
    model["SCD"] = ref["SCD"].copy()
    model["SCD"][:5] = np.nan                                   # NaN pairs are dropped, not counted
    v = paired_verdicts(model, ref)
    assert v["EN"][3] == "+" and v["EN"][0] == pytest.approx(0.1) and v["EN"][1] == pytest.approx(0.1)
    assert v["SD"][3] == "-"
    assert v["SF"][3] == "=" and v["SF"][1] < 0 < v["SF"][2]
    assert v["SCD"][:3] == (0.0, 0.0, 0.0) and v["SCD"][3] == "="
    with pytest.raises(ValueError, match="reference"):
        paired_verdicts(model, {k: x[:10] for k, x in ref.items()})
