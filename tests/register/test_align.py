"""Registration of synthetic multimodal pairs with a known misalignment (2-D, 3-D, rigid, affine)."""
import dataclasses
import math

import numpy as np
import pytest
import SimpleITK as sitk

from pipelines.registration import align, engine
from pipelines.registration.align import UnitImages, align_unit
from pipelines.registration.config import RegisterParams
from pipelines.registration.transforms import (in_plane_motion, max_displacement_vox, transform_from_dict,
                                               transform_to_dict)

CFG = RegisterParams()


def _errors(found: dict, truth: sitk.Transform, centre, spacing) -> tuple[float, float]:
    t = in_plane_motion(truth, centre, spacing)
    return (abs(found["rotation_deg"] - t["rotation_deg"]),
            math.hypot(found["shift_x_vox"] - t["shift_x_vox"], found["shift_y_vox"] - t["shift_y_vox"]))


@pytest.mark.parametrize("angle, tx, ty", [(4.5, 3.0, -2.0), (-5.0, -4.5, 2.5)])
def test_rigid_2d_recovers_the_misalignment(synthetic, angle, tx, ty):
    a = synthetic["head"](96)
    b_true = synthetic["modality_b"](synthetic["head"](96, seed=1))
    centre = engine.image_centre(engine.to_image(a, (1.0, 1.0)))
    truth = synthetic["rigid"](angle, tx, ty, centre)
    out = align_unit(UnitImages(a, synthetic["moved"](b_true, truth)), CFG)
    assert out.status == "registered"
    rot_err, shift_err = _errors(out.motion, truth, centre, (1.0, 1.0))
    assert rot_err < 0.25 and shift_err < 0.25
    assert out.nmi_after > out.nmi_before + 0.05
    inside = np.zeros_like(a, bool)
    inside[16:-16, 16:-16] = True
    assert np.abs(out.b - b_true)[inside].mean() < 0.03       # B is back on A's grid


def test_anisotropic_spacing_is_respected(synthetic):
    """With 0.5 x 1.0 mm pixels, a 2 mm shift along x is 4 columns."""
    a = synthetic["head"](96)
    b_true = synthetic["modality_b"](synthetic["head"](96, seed=1))
    spacing_xy = (0.5, 1.0)
    centre = engine.image_centre(engine.to_image(a, spacing_xy))
    truth = synthetic["rigid"](0.0, 2.0, 0.0, centre)
    b = synthetic["moved"](b_true, truth, spacing_xy)
    out = align_unit(UnitImages(a, b, spacing=(1.0, 0.5)), CFG)         # numpy order (row, column)
    assert out.motion["shift_x_vox"] == pytest.approx(4.0, abs=0.25)
    assert out.motion["shift_y_vox"] == pytest.approx(0.0, abs=0.25)


def test_affine_option_recovers_a_rigid_motion(synthetic):
    a = synthetic["head"](96)
    b_true = synthetic["modality_b"](synthetic["head"](96, seed=1))
    centre = engine.image_centre(engine.to_image(a, (1.0, 1.0)))
    truth = synthetic["rigid"](3.0, -2.0, 3.0, centre)
    out = align_unit(UnitImages(a, synthetic["moved"](b_true, truth)), dataclasses.replace(CFG, transform="affine"))
    assert out.status == "registered" and out.applied["itk_class"] == "AffineTransform"
    found = transform_from_dict(out.applied)
    # the found affine maps every point of the domain within half a pixel of where the truth maps it
    for p in [(10.0, 10.0), (85.0, 10.0), (10.0, 85.0), (85.0, 85.0), tuple(centre)]:
        assert np.linalg.norm(np.subtract(found.TransformPoint(p), truth.TransformPoint(p))) < 0.5


def test_volume_is_registered_in_3d_and_recovers_the_in_plane_motion(synthetic):
    zs = np.linspace(-0.6, 0.6, 8)
    a = np.stack([synthetic["head"](64, z) for z in zs])
    b_true = np.stack([synthetic["modality_b"](synthetic["head"](64, z, seed=1)) for z in zs])
    centre = engine.image_centre(engine.to_image(a[0], (1.0, 1.0)))
    truth = synthetic["rigid"](-4.0, 2.5, 1.5, centre)
    b = np.stack([synthetic["moved"](s, truth) for s in b_true])
    out = align_unit(UnitImages(a, b, spacing=(4.0, 1.0, 1.0)), CFG)
    assert out.status == "registered" and out.applied["itk_class"] == "Euler3DTransform"
    rot_err, shift_err = _errors(out.motion, truth, centre, (1.0, 1.0))
    assert rot_err < 0.5 and shift_err < 0.5
    assert abs(out.motion["shift_z_vox"]) < 0.2
    assert out.b.shape == a.shape


def test_never_makes_things_worse(synthetic, monkeypatch):
    """An optimum worse than identity is thrown away: B is kept bit-for-bit and the reason is recorded."""
    a = synthetic["head"](64)
    b = synthetic["modality_b"](a)                          # already aligned
    bad = engine.Optimum(synthetic["rigid"](15.0, 6.0, 0.0, engine.image_centre(engine.to_image(a, (1, 1)))),
                         -0.1, 3, "forced", 0.0)
    monkeypatch.setattr(align.engine, "register", lambda *args, **kw: bad)
    out = align_unit(UnitImages(a, b), CFG)
    assert out.status == "kept_original"
    assert out.b is b
    assert out.nmi_after == out.nmi_before and out.ncc_after == out.ncc_before
    assert out.candidate_nmi < out.nmi_before
    assert "not above identity" in out.reason
    assert out.applied["parameters"] == [0.0, 0.0, 0.0]               # identity applied
    assert out.candidate["angles_deg"][0] == pytest.approx(15.0)       # rejected optimum still reported


def test_optimiser_failure_keeps_the_original(synthetic, monkeypatch):
    def boom(*args, **kw):
        raise RuntimeError("Exception thrown in SimpleITK ImageRegistrationMethod_Execute:\nToo many samples "
                           "map outside moving image buffer")
    monkeypatch.setattr(align.engine, "register", boom)
    a = synthetic["head"](64)
    out = align_unit(UnitImages(a, synthetic["modality_b"](a)), CFG)
    assert out.status == "kept_original" and "Too many samples" in out.reason and out.candidate is None


def test_chroma_moves_with_the_luma(synthetic):
    a = synthetic["head"](96)
    b_true = synthetic["modality_b"](synthetic["head"](96, seed=1))
    cb_true = np.where(b_true > 0.5, 0.8, 0.5).astype(np.float32)
    cr_true = np.where((b_true > 0.1) & (b_true < 0.5), 0.25, 0.5).astype(np.float32)
    centre = engine.image_centre(engine.to_image(a, (1.0, 1.0)))
    truth = synthetic["rigid"](5.0, 4.0, -3.0, centre)
    mv = lambda img: synthetic["moved"](img, truth, default=0.5)  # noqa: E731
    out = align_unit(UnitImages(a, synthetic["moved"](b_true, truth), mv(cb_true), mv(cr_true)), CFG)
    assert out.status == "registered"
    inside = np.zeros_like(a, bool)
    inside[16:-16, 16:-16] = True
    for got, want in ((out.b_cb, cb_true), (out.b_cr, cr_true)):
        assert np.abs(got - want)[inside].mean() < 0.02
    # pixels that came from outside B's field get neutral chroma, not 0
    assert out.b_cb[0, 0] == pytest.approx(0.5) and out.b_cr[-1, -1] == pytest.approx(0.5)


def test_result_is_deterministic(synthetic):
    a = synthetic["head"](64)
    centre = engine.image_centre(engine.to_image(a, (1.0, 1.0)))
    b = synthetic["moved"](synthetic["modality_b"](a), synthetic["rigid"](3.0, 1.0, 2.0, centre))
    first = align_unit(UnitImages(a, b), CFG)
    second = align_unit(UnitImages(a, b), CFG)
    assert first.applied["parameters"] == second.applied["parameters"]
    assert np.array_equal(first.b, second.b)


def test_transform_json_round_trip():
    for t in (sitk.Euler2DTransform((3.0, 4.0), 0.1, (1.0, -2.0)),
              sitk.Euler3DTransform((1.0, 2.0, 3.0), 0.01, -0.02, 0.2, (0.5, 0.25, -1.0)),
              sitk.AffineTransform((1.1, 0.1, -0.05, 0.95), (2.0, 1.0), (5.0, 5.0))):
        kind = "affine" if t.GetName() == "AffineTransform" else "rigid"
        back = transform_from_dict(transform_to_dict(t, kind))
        for p in [(0.0,) * t.GetDimension(), (10.0,) * t.GetDimension()]:
            assert np.allclose(back.TransformPoint(p), t.TransformPoint(p), atol=1e-12)
    shift = sitk.Euler2DTransform((0.0, 0.0), 0.0, (3.0, 4.0))
    assert max_displacement_vox(shift, (10, 10), (1.0, 1.0)) == pytest.approx(5.0)
    assert max_displacement_vox(shift, (10, 10), (0.5, 1.0)) == pytest.approx(math.hypot(6.0, 4.0))


def test_bad_params_are_refused():
    from pipelines.params import ParamsError, from_dict
    with pytest.raises(ParamsError, match="same length"):
        from_dict(RegisterParams, {"shrink_factors": [4, 2], "smoothing_sigmas": [1.0]})
    with pytest.raises(ParamsError, match="sampling_percentage"):
        from_dict(RegisterParams, {"sampling_percentage": 0})
    with pytest.raises(ParamsError, match="transform"):
        from_dict(RegisterParams, {"transform": "bspline"})
    with pytest.raises(ParamsError, match="unknown key"):
        from_dict(RegisterParams, {"iteratons": 10})
    with pytest.raises(ParamsError, match="accept_sigma_vox"):
        from_dict(RegisterParams, {"accept_sigma_vox": -0.5})
    with pytest.raises(ParamsError, match="min_samples_per_level"):
        from_dict(RegisterParams, {"min_samples_per_level": 0})


def test_sampling_uses_every_voxel_of_small_levels_and_a_fixed_count_of_large_ones():
    cfg = RegisterParams()                    # sampling_percentage 0.25, min_samples_per_level 16384
    assert engine.sampling_per_level((128, 128), cfg) == [1.0, 1.0, 1.0]
    assert engine.sampling_per_level((256, 256), cfg) == [1.0, 1.0, 0.25]
    assert engine.sampling_per_level((512, 512), cfg) == [1.0, 0.25, 0.25]
    # a 128 x 128 x 10 volume: ITK's shrink floors (32 x 32 x 2, 64 x 64 x 5, full)
    assert engine.sampling_per_level((128, 128, 10), cfg) == pytest.approx([1.0, 16384 / 20480, 0.25])
    few = dataclasses.replace(cfg, min_samples_per_level=100, sampling_percentage=0.5)
    assert engine.sampling_per_level((20, 10), few) == [1.0, 1.0, 0.5]


def test_accept_blur_is_in_plane_with_at_most_half_a_voxel_along_z():
    assert align.accept_sigma(2, CFG) == (1.0, 1.0)
    assert align.accept_sigma(3, CFG) == (0.5, 1.0, 1.0)
    assert align.accept_sigma(3, dataclasses.replace(CFG, accept_sigma_vox=0.3)) == (0.3, 0.3, 0.3)


def _noisy_pair_and_truth(synthetic, noise: float = 0.2):
    """A noisy multimodal pair misaligned by 1.5 deg and a sub-voxel shift, and the true transform."""
    rng = np.random.default_rng(0)
    a = synthetic["head"](96)
    centre = engine.image_centre(engine.to_image(a, (1.0, 1.0)))
    truth = synthetic["rigid"](1.5, 0.5, -0.5, centre)
    b = synthetic["moved"](synthetic["modality_b"](synthetic["head"](96, seed=1)), truth)
    return a, np.clip(b + noise * rng.standard_normal(b.shape), 0, 1).astype(np.float32), truth


def test_acceptance_compares_the_blurred_nmi(synthetic, monkeypatch):
    """The accept/reject NMI is that of A and B blurred by accept_sigma_vox (closed form).  On a noisy B the raw
    NMI is biased towards identity (the resampled B is smoothed by the interpolation, the identity B is not):
    the true transform lowers the raw NMI but raises the blurred one, so only the blurred rule keeps it."""
    from pipelines.registration.metrics import blurred, nmi
    a, b, truth = _noisy_pair_and_truth(synthetic)
    monkeypatch.setattr(align.engine, "register", lambda *args, **kw: engine.Optimum(truth, 0.0, 1, "forced", 0.0))
    out = align_unit(UnitImages(a, b), CFG)
    assert out.status == "registered"
    assert out.accept_nmi_before == pytest.approx(nmi(blurred(a, 1.0), blurred(b, 1.0), 64), abs=1e-12)
    assert out.accept_nmi_after == pytest.approx(nmi(blurred(a, 1.0), blurred(out.b, 1.0), 64), abs=1e-12)
    assert out.candidate_nmi - out.nmi_before < 0.0                     # raw NMI: the truth looks worse
    accept_gain = out.accept_nmi_candidate - out.accept_nmi_before
    assert accept_gain > CFG.min_nmi_gain
    raw_rule = align_unit(UnitImages(a, b), dataclasses.replace(CFG, accept_sigma_vox=0.0))
    assert raw_rule.status == "kept_original" and raw_rule.b is b
    stricter = align_unit(UnitImages(a, b), dataclasses.replace(CFG, min_nmi_gain=accept_gain + 1e-4))
    assert stricter.status == "kept_original" and "blurred by" in stricter.reason
    assert stricter.accept_nmi_after == stricter.accept_nmi_before
