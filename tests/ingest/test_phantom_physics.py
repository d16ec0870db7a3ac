"""Physics of the phantom simulators: closed-form values on pure tissues, and the same facts on a case."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.phantom.anatomy import load_anatomy
from pipelines.phantom.cases import make_case, simulate_modality, tissues_at
from pipelines.phantom.colormaps import COLORMAPS
from pipelines.phantom.geometry import make_geometry
from pipelines.phantom.modalities import (FLAIR_TI, MODALITIES, PET_UPTAKE, SEQUENCES, CasePhysics, emission_activity,
                                          mr_clean, tissue_signals)
from pipelines.phantom.tissue import MR_TISSUES, TISSUES, TissueSample
from pipelines.imaging.color import rgb_to_ycbcr


def pure(shape, depth=0.5, hypo=0.0, **fractions) -> TissueSample:
    """A tissue sample whose fractions are given per tissue (scalars broadcast to ``shape``)."""
    fr = {t: np.full(shape, float(fractions.get(t, 0.0)), np.float32) for t in TISSUES}
    z = np.zeros(shape, np.float32)
    grid = np.stack(np.meshgrid(*(np.arange(s, dtype=np.float32) for s in shape), indexing="ij")[::-1])
    return TissueSample(fr, np.full(shape, depth, np.float32), np.full(shape, 0.5, np.float32),
                        fr["gm"] + fr["wm"] + fr["csf"], z, np.full(shape, hypo, np.float32), grid)


def physics(**kw) -> CasePhysics:
    base = dict(mr=dict(MR_TISSUES), mr_noise=0.01, bias={}, ct_noise_hu=4.0, pet_gm_wm=4.0, pet_gm_counts=120.0,
                pet_gm_bqml=10000.0, spect_gm_wm=2.5, spect_gm_counts=40.0, hypo_severity=0.5)
    base.update(kw)
    return CasePhysics(**base)


RNG = np.random.default_rng(0)
CT = MODALITIES.get("CT").simulate


@pytest.mark.parametrize("tissue, hu", [("gm", 37.0), ("wm", 29.0), ("csf", 8.0), ("fat", -90.0)])
def test_ct_pure_tissue_hounsfield_units(tissue, hu):
    img = CT(pure((1, 16, 16), **{tissue: 1.0}), physics(), RNG, (1.0, 1.0, 1.0), False)
    assert np.allclose(img, hu, atol=1e-3)


def test_ct_brain_is_the_fraction_weighted_sum_and_air_is_minus_1000():
    img = CT(pure((1, 8, 8), gm=0.5, wm=0.3, csf=0.2), physics(), RNG, (1.0, 1.0, 1.0), False)
    assert np.allclose(img, 0.5 * 37 + 0.3 * 29 + 0.2 * 8, atol=1e-3)
    assert np.allclose(CT(pure((1, 8, 8)), physics(), RNG, (1.0, 1.0, 1.0), False), -1000.0, atol=1e-3)


def test_ct_bone_profile_and_noise_level():
    tables = CT(pure((1, 8, 8), depth=0.0, bone=1.0), physics(), RNG, (1.0, 1.0, 1.0), False)
    diploe = CT(pure((1, 8, 8), depth=0.5, bone=1.0), physics(), RNG, (1.0, 1.0, 1.0), False)
    assert np.allclose(tables, 1500.0) and np.allclose(diploe, 650.0)
    noisy = CT(pure((1, 64, 64), gm=1.0), physics(ct_noise_hu=4.0), np.random.default_rng(1), (1.0, 1.0, 1.0), True)
    assert abs(float(noisy.std()) - 4.0) < 0.3 and abs(float(noisy.mean()) - 37.0) < 0.3


def test_ct_skull_of_a_case_is_about_1000_hu_and_brain_follows_the_weights():
    anatomy = load_anatomy()
    geometry = make_geometry(anatomy, 3)
    case = make_case(3, 0, anatomy, geometry)
    x, y, z = geometry.display_grid()
    t = tissues_at(case, anatomy, geometry, x, y, z, moved=True)
    ct = simulate_modality(case, MODALITIES.get("CT"), anatomy, geometry, noise=False, fine=t)
    bone = t.fractions["bone"] > 0.99
    assert bone.sum() > 2000
    assert 850.0 < float(np.mean(ct[bone])) < 1050.0
    brain = (t.fractions["gm"] + t.fractions["wm"] + t.fractions["csf"] > 0.999) & (t.fractions["oedema"] == 0) \
        & (t.fractions["tumour"] + t.fractions["necrosis"] == 0)
    # away from bone the 0.5 mm blur is negligible: HU = 37 GM + 29 WM + 8 CSF
    deep = brain & (t.bone_depth == 0) & (t.csf_outside == 0)
    expect = 37 * t.fractions["gm"] + 29 * t.fractions["wm"] + 8 * t.fractions["csf"]
    assert np.median(np.abs(ct[deep] - expect[deep])) < 0.5


def test_pet_grey_to_white_uptake_is_four_to_one_before_blur():
    a_gm = emission_activity(pure((4,), gm=1.0), PET_UPTAKE, 4.0, 0.0)
    a_wm = emission_activity(pure((4,), wm=1.0), PET_UPTAKE, 4.0, 0.0)
    assert np.allclose(a_gm / a_wm, 4.0)
    # through the simulator without noise: interiors of large uniform blocks keep the ratio after blur
    shape = (24, 24, 48)
    fr_gm = np.zeros(shape, np.float32)
    fr_gm[:, :, :24] = 1.0
    t = pure(shape)
    t.fractions["gm"] = fr_gm
    t.fractions["wm"] = 1.0 - fr_gm
    img = MODALITIES.get("PET").simulate(t, physics(pet_gm_wm=4.0), RNG, (2.0, 2.0, 2.0), False)
    ratio = img[10:14, 10:14, 2:6].mean() / img[10:14, 10:14, 42:46].mean()
    assert abs(ratio - 4.0) < 0.05


def test_tumour_is_hypermetabolic_and_hypoperfusion_lowers_spect_more_than_pet():
    tum = emission_activity(pure((2,), tumour=1.0), PET_UPTAKE, 4.0, 0.0)
    assert np.allclose(tum, 6.0)
    spect = MODALITIES.get("SPECT").simulate
    pet = MODALITIES.get("PET").simulate
    shape = (16, 16, 16)
    for sim, drop in ((spect, 0.5), (pet, 0.25)):
        normal = sim(pure(shape, gm=1.0), physics(), RNG, (4.0, 4.0, 4.0), False)
        low = sim(pure(shape, gm=1.0, hypo=1.0), physics(), RNG, (4.0, 4.0, 4.0), False)
        assert abs(float(low[8, 8, 8] / normal[8, 8, 8]) - (1 - drop)) < 1e-4


def test_spect_is_noisier_than_pet_and_counts_are_poisson():
    shape = (20, 20, 20)
    t = pure(shape, gm=1.0)
    rel = {}
    for name, voxel, counts_attr in (("PET", 2.0, "pet_gm_counts"), ("SPECT", 4.0, "spect_gm_counts")):
        sim = MODALITIES.get(name).simulate
        clean = sim(t, physics(), RNG, (voxel,) * 3, False)
        noisy = sim(t, physics(), np.random.default_rng(5), (voxel,) * 3, True)
        core = (slice(6, 14),) * 3
        rel[name] = float((noisy[core] - clean[core]).std() / clean[core].mean())
        counts = noisy[core] * getattr(physics(), counts_attr) / clean[core].mean()
        assert abs(float(counts.var() / counts.mean()) - 1.0) < 0.15          # Poisson: variance = mean
    assert rel["SPECT"] > 1.4 * rel["PET"]


def test_flair_nulls_csf_and_t2_makes_csf_brightest():
    flair = tissue_signals(SEQUENCES["FLAIR"], MR_TISSUES)
    assert abs(flair["csf"]) < 1e-4 * flair["gm"]          # TI is rounded to 0.1 ms
    assert FLAIR_TI == pytest.approx(2569.0 * math.log(2 / (1 + math.exp(-9000 / 2569))), abs=0.1)
    assert flair["oedema"] > flair["gm"] > flair["wm"] > 0            # oedema bright on FLAIR
    t2 = tissue_signals(SEQUENCES["T2"], MR_TISSUES)
    assert t2["csf"] > t2["oedema"] > t2["gm"] > t2["wm"]
    # partial volume in IR is summed signed, then the magnitude taken
    s = mr_clean(pure((1,), csf=0.5, wm=0.5), SEQUENCES["FLAIR"], MR_TISSUES)
    assert np.allclose(s, abs(0.5 * flair["csf"] + 0.5 * flair["wm"]))


def test_flair_csf_is_near_zero_in_a_case():
    anatomy = load_anatomy()
    geometry = make_geometry(anatomy, 3)
    case = make_case(3, 0, anatomy, geometry)
    x, y, z = geometry.display_grid()
    t = tissues_at(case, anatomy, geometry, x, y, z, moved=True)
    flair = simulate_modality(case, MODALITIES.get("FLAIR"), anatomy, geometry, noise=False, fine=t)
    csf = t.fractions["csf"] > 0.99
    gm = t.fractions["gm"] > 0.9
    assert csf.sum() > 200 and gm.sum() > 200
    assert np.median(flair[csf]) < 0.1 * np.median(flair[gm])


@pytest.mark.parametrize("name", ["hot_luma", "rainbow_luma"])
def test_pseudo_colour_luma_equals_the_value(name):
    v = np.linspace(0, 1, 1001)
    rgb = COLORMAPS.get(name)(v)
    assert np.allclose(rgb_to_ycbcr(rgb)[0], v, atol=1e-9)
    rgb8 = np.rint(rgb * 255) / 255
    assert np.abs(rgb_to_ycbcr(rgb8)[0] - v).max() <= 0.5 / 255 + 1e-9
    assert np.ptp(rgb8, axis=-1).max() > 0.5            # it is colour


def test_t1_is_the_template_in_the_brain_and_calibrated_simulation_elsewhere():
    sim = MODALITIES.get("T1").simulate
    phys = physics(t1_wm_level=0.87)
    brain = sim(pure((1, 4, 4), wm=1.0), phys, RNG, (1.0, 1.0, 1.0), False)
    assert np.allclose(brain, 0.5)                       # pure() sets the template T1 to 0.5, no bias field
    s = tissue_signals(SEQUENCES["T1"], MR_TISSUES)
    fat = sim(pure((1, 4, 4), fat=1.0), phys, RNG, (1.0, 1.0, 1.0), False)
    assert np.allclose(fat, 0.87 * s["fat"] / s["wm"], rtol=1e-5)
    t = pure((1, 4, 4), tumour=1.0)
    t.brain_total[:] = 1.0
    tumour = sim(t, phys, RNG, (1.0, 1.0, 1.0), False)
    assert np.allclose(tumour, 0.87 * s["tumour"] / s["wm"], rtol=1e-5) and tumour.max() < 0.87   # hypointense
