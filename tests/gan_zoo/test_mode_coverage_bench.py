"""The mode-coverage benchmark's own logic: the 3σ scoring rule, every §2 loss in its table, n/a cells."""
import sys
from pathlib import Path

import numpy as np
import pytest

import gan_models
from gan_models.registry import LOSSES

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import mode_coverage as mc  # noqa: E402

gan_models.load_all()


def _loss_name(setup):
    return setup["loss"] if isinstance(setup["loss"], str) else setup["loss"]["name"]


def test_every_registered_loss_has_a_setup():
    assert {_loss_name(s) for s in mc.LOSS_SETUPS.values()} == set(LOSSES.names())


def test_coverage_counts_modes_and_high_quality_samples_with_the_3_sigma_rule():
    mix = mc.MIXTURES["ring"]
    on_modes = np.repeat(mix.means, 10, axis=0)
    assert mc.coverage(on_modes, mix) == (8, 1.0, 0.0)
    # 3 modes hit exactly, the rest 2.9 σ and 3.1 σ away from mode 0 along x
    x = np.concatenate([mix.means[:3], mix.means[[0]] + [2.9 * mix.sigma, 0], mix.means[[0]] + [3.1 * mix.sigma, 0]])
    modes, hq, med = mc.coverage(x, mix)
    assert modes == 3 and hq == pytest.approx(4 / 5) and med == pytest.approx(0.0)


def test_incompatible_cells_are_explained_and_the_rest_build():
    assert "energy" in mc.incompatibility("mgan", mc.LOSS_SETUPS["ebgan"])
    assert "no discriminator" in mc.incompatibility("mad_gan", mc.LOSS_SETUPS["gmmn_median"])
    for topology in mc.TOPOLOGIES:
        for name, setup in mc.LOSS_SETUPS.items():
            if mc.incompatibility(topology, setup) is None:
                system = mc.build_toy(topology, setup)
                assert type(system.loss) is LOSSES.get(_loss_name(setup)), (topology, name)


def test_a_failing_job_is_reported_not_fatal():
    row = mc._run(("toy", ("ring", "gan", "no_such_loss", 1, 0, 8, 0, "none")))
    assert row["loss"] == "no_such_loss" and "KeyError" in row["error"]
