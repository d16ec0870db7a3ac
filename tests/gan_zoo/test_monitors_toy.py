"""The stability monitors on the ring runs that ``reports/bench/mode_coverage.md`` knows to fail or to work.

Shortened versions of ``benchmarks/stability_monitors.py`` (the full 2 000-step, 2-seed table of all five
configurations is ``reports/bench/stability_monitors.md``): each failing configuration is run, with the seed of
the benchmark run it repeats, until its first event shows (f-GAN TV: the generator's gradient vanishes; WGAN at
100× its learning rate and f-GAN Pearson: the samples collapse); hinge runs 200 steps without an event.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import stability_monitors as sm  # noqa: E402

SETUPS = sm.setups(5e-3)


# (configuration, seed, steps, the event the benchmark saw first for that seed, at that step)
FAILING = [("fgan_tv", 1, 400, "vanishing_gradient"),       # benchmark: step 330
           ("wgan_high_lr", 0, 180, "mode_collapse"),         # step 149
           ("fgan_pearson", 1, 300, "mode_collapse")]         # step 233


@pytest.mark.slow
@pytest.mark.parametrize("config, seed, steps, kind", FAILING)
def test_monitors_fire_on_runs_known_to_fail(config, seed, steps, kind):
    r = sm.run(config, SETUPS[config], steps, seed, 256)
    assert kind in r["first"], r["first"]
    assert r["modes"] <= 2                                    # the ground truth agrees: the run failed


@pytest.mark.slow
def test_monitors_stay_quiet_on_a_run_known_to_work():
    # hinge (WGAN-div, the other working run, is in the benchmark table: slower per step, same verdict)
    r = sm.run("hinge", SETUPS["hinge"], 200, 0, 256)       # warm-up 50 + one and a half 100-step windows
    assert r["first"] == {}, r["events"]
