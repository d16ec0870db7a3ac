"""Case consensus of 2-D slices (pipelines/registration/consensus.py): the decision rule on known numbers, the
median of transform dicts, a case where one slice's own candidate is wrong and the consensus is right, an
identity consensus that changes nothing, and the stage's records."""
import dataclasses
import json
import math

import numpy as np
import pytest

from pipelines.params import ParamsError, from_dict
from pipelines.registration import align, engine
from pipelines.registration.align import UnitImages, align_unit
from pipelines.registration.config import RegisterParams
from pipelines.registration.consensus import CONSENSUS, IDENTITY, OWN, decide, group_problem, refine_group
from pipelines.registration.transforms import (identity_like, in_plane_motion, is_identity, median_transform,
                                               transform_from_dict, transform_to_dict)
from pipelines.schema import make_pair_id, read_pairs, write_pairs
from pipelines.stages import register as stage

CFG = RegisterParams()
N = 64
G = 0.0625          # a min gain exact in binary, so that the boundaries below are exact


@pytest.mark.parametrize("own, cons, want", [
    (0.75, 0.75 - G / 2, CONSENSUS),      # both eligible, own within the gain of the consensus: the case wins
    (0.75, 0.75 + G / 2, CONSENSUS),      # consensus better
    (0.75, 0.75 - G, CONSENSUS),          # own beats the consensus by exactly the gain: not by more
    (0.75, 0.75 - 1.5 * G, OWN),          # own beats the consensus by more than the gain
    (0.75, 0.5 + G, OWN),                 # consensus gains exactly the gain over identity: not eligible
    (0.5 + G, 0.75, CONSENSUS),           # own not eligible, consensus is
    (float("nan"), 0.75, CONSENSUS),      # optimiser failed, consensus eligible
    (0.5 + G, 0.5 + G, IDENTITY),         # neither eligible
    (float("nan"), 0.5, IDENTITY),        # consensus == identity: nothing changes
    (0.4, 0.55, IDENTITY),                # below identity, or above by less than the gain: neither eligible
])
def test_decision_rule_on_known_numbers(own, cons, want):
    d = decide(0.5, own, cons, G)
    assert d.source == want, d.reason
    assert d.reason


def test_consensus_equal_to_identity_never_changes_a_slice():
    for own in (0.5, 0.5 + G / 2, 0.5 + 2 * G, float("nan")):
        first = OWN if own - 0.5 > G else IDENTITY
        assert decide(0.5, own, 0.5, G).source == first


def _euler(angle_rad, tx, ty, centre=(31.5, 31.5)):
    t = identity_like("rigid", 2, centre)
    t.SetAngle(angle_rad)
    t.SetTranslation((tx, ty))
    return transform_to_dict(t, "rigid")


def test_median_transform_of_known_rigid_and_affine_dicts():
    dicts = [_euler(0.10, 1.0, -4.0), _euler(-0.20, 3.0, 2.0), _euler(0.05, -1.0, 0.5), _euler(0.30, 7.0, 0.0)]
    m = median_transform(dicts)
    assert m["itk_class"] == "Euler2DTransform" and m["center"] == [31.5, 31.5]
    assert m["parameters"] == pytest.approx([0.075, 2.0, 0.25], abs=1e-12)
    assert m["angles_deg"] == pytest.approx([math.degrees(0.075)])
    odd = median_transform(dicts[:3])
    assert odd["parameters"] == pytest.approx([0.05, 1.0, 0.5], abs=1e-12)
    aff = []
    for k, p in enumerate(([1.0, 0.1, 0.0, 1.0, 2.0, 0.0], [1.2, 0.0, 0.1, 0.9, -2.0, 1.0],
                           [0.8, -0.1, 0.2, 1.1, 4.0, 3.0])):
        t = identity_like("affine", 2, (10.0, 20.0))
        t.SetParameters(p)
        aff.append(transform_to_dict(t, "affine"))
    ma = median_transform(aff)
    assert ma["parameters"] == pytest.approx([1.0, 0.0, 0.1, 1.0, 2.0, 1.0], abs=1e-12)
    assert ma["center"] == [10.0, 20.0]
    assert is_identity(median_transform([_euler(0, 0, 0), _euler(0, 0, 0), _euler(0.2, 1, 1)]))
    assert not is_identity(m)
    with pytest.raises(ValueError, match="different centres"):
        median_transform([_euler(0.1, 0, 0), _euler(0.1, 0, 0, centre=(0.0, 0.0))])
    with pytest.raises(ValueError, match="median of"):
        median_transform([_euler(0.1, 0, 0), aff[0]])


def _case(synthetic, truth, zs, seed=1):
    """2-D slices of one case, B moved by one rigid ``truth``; B carries Cb/Cr moved the same way."""
    head, modality_b, moved = synthetic["head"], synthetic["modality_b"], synthetic["moved"]
    out = []
    for k, z in enumerate(zs):
        b = modality_b(head(N, z, seed=seed + k))
        cb = np.where(b > 0.5, 0.8, 0.5).astype(np.float32)
        out.append(UnitImages(head(N, z), moved(b, truth), moved(cb, truth, default=0.5),
                              moved(1 - cb, truth, default=0.5)))
    return out


def test_wrong_own_candidate_is_replaced_by_the_right_consensus(synthetic):
    centre = engine.image_centre(engine.to_image(np.zeros((N, N), np.float32), (1.0, 1.0)))
    truth = synthetic["rigid"](4.0, 2.0, -1.5, centre)
    images = _case(synthetic, truth, np.linspace(-0.4, 0.4, 5))
    outs = [align_unit(im, CFG) for im in images]
    assert all(o.status == "registered" for o in outs)
    # slice 2's own candidate is wrong by 3 degrees and 1.5 voxel (as noise does to a top-of-head SPECT slice)
    fr = align.frame(images[2], CFG)
    wrong = synthetic["rigid"](7.0, 3.5, -1.5, centre)
    ev = align.evaluate(fr, wrong, CFG)
    assert ev.accept_nmi - fr.accept_before > CFG.min_nmi_gain      # still eligible on its own
    outs[2] = align.applied_outcome(fr, ev, "optimum improves NMI", CFG, OWN, wrong, ev.nmi, ev.accept_nmi, {}, 0.0)
    refined = refine_group("MRI_SPECT/c1", images, outs, CFG)
    want = in_plane_motion(truth, centre, (1.0, 1.0))
    r = refined[2]
    assert r.source == CONSENSUS and r.status == "registered", r.reason
    assert r.consensus["chosen"] == CONSENSUS and r.consensus["status"] == "applied"
    assert abs(r.applied_motion["rotation_deg"] - want["rotation_deg"]) < 1.0
    assert math.hypot(r.applied_motion["shift_x_vox"] - want["shift_x_vox"],
                      r.applied_motion["shift_y_vox"] - want["shift_y_vox"]) < 1.0
    assert abs(outs[2].applied_motion["rotation_deg"] - want["rotation_deg"]) > 2.5   # was out of spec
    # the written B / Cb / Cr are those of the consensus transform; the own candidate is still reported
    cons_ev = align.evaluate(fr, transform_from_dict(r.applied), CFG)
    np.testing.assert_array_equal(r.b, cons_ev.b)
    assert r.accept_nmi_after == pytest.approx(r.consensus["accept_nmi"]) == pytest.approx(cons_ev.accept_nmi)
    assert r.accept_nmi_after - r.accept_nmi_before > CFG.min_nmi_gain
    assert r.candidate["angles_deg"][0] == pytest.approx(7.0)
    assert not np.array_equal(r.b_cb, outs[2].b_cb) and r.b_cb.shape == (N, N)
    # the other slices are within the gain of the consensus: all end on the one case transform
    assert {o.source for o in refined} == {CONSENSUS}
    assert len({tuple(o.applied["parameters"]) for o in refined}) == 1


def test_identity_consensus_changes_nothing(synthetic):
    centre = engine.image_centre(engine.to_image(np.zeros((N, N), np.float32), (1.0, 1.0)))
    aligned = _case(synthetic, identity_like("rigid", 2, centre), [-0.3, 0.0, 0.3])
    moved = _case(synthetic, synthetic["rigid"](4.0, 2.0, -1.5, centre), [0.1], seed=7)
    images = aligned + moved
    outs = [align_unit(im, CFG) for im in images]
    assert [o.status for o in outs] == ["kept_original"] * 3 + ["registered"]
    refined = refine_group("MRI_CT/c2", images, outs, CFG)
    for before, after in zip(outs, refined):
        assert after.consensus["status"] == "identity"
        assert (after.status, after.source, after.applied) == (before.status, before.source, before.applied)
        assert after.b is before.b and after.b_cb is before.b_cb


def test_groups_too_small_or_mixed_are_skipped_with_a_note(synthetic):
    centre = engine.image_centre(engine.to_image(np.zeros((N, N), np.float32), (1.0, 1.0)))
    images = _case(synthetic, synthetic["rigid"](4.0, 2.0, -1.5, centre), [-0.2, 0.2])
    outs = [align_unit(im, CFG) for im in images]
    refined = refine_group("MRI_CT/c3", images, outs, CFG)
    assert [o.consensus["status"] for o in refined] == ["skipped"] * 2
    assert "fewer than 3" in refined[0].consensus["note"] and refined[0].applied == outs[0].applied
    odd = images + [dataclasses.replace(images[0], spacing=(2.0, 2.0))]
    assert group_problem(odd) == "slices differ in size or spacing"


def test_params_switch_is_typed():
    assert RegisterParams().case_consensus is True
    assert from_dict(RegisterParams, {"case_consensus": False}).case_consensus is False
    with pytest.raises(ParamsError):
        from_dict(RegisterParams, {"case_consensus": "yes"})


def test_stage_records_source_and_consensus_and_the_switch_turns_it_off(synthetic, tmp_path):
    centre = engine.image_centre(engine.to_image(np.zeros((N, N), np.float32), (1.0, 1.0)))
    truth = synthetic["rigid"](-3.0, -2.0, 2.0, centre)
    rows = []
    for k, im in enumerate(_case(synthetic, truth, np.linspace(-0.3, 0.3, 4))):
        rows.append(dict(pair_id=make_pair_id("MRI_PET", "p1", k), task="MRI_PET", case_id="p1", slice=k,
                         modality_a="MRI", modality_b="PET", height=N, width=N, a=im.a, b=im.b, b_cb=im.b_cb,
                         b_cr=im.b_cr, spacing_mm=[1.0, 1.0], source_a=f"/d/MRI_PET/MRI/p1{k:03d}.png",
                         source_b=f"/d/MRI_PET/PET/p1{k:03d}.png", sha256_a="0" * 64, sha256_b="1" * 64, meta={}))
    path = write_pairs(rows, tmp_path / "in.parquet")
    on = stage.run(CFG, path, tmp_path / "on.parquet", tmp_path / "on.json", progress=False)
    off = stage.run(dataclasses.replace(CFG, case_consensus=False), path, tmp_path / "off.parquet",
                    tmp_path / "off.json", progress=False)
    rep_on, rep_off = (json.loads(r.report.read_text()) for r in (on, off))
    assert all(u["consensus"]["status"] == "applied" and u["consensus"]["group"] == "MRI_PET/p1"
               for u in rep_on["units"])
    assert all(u["consensus"] is None and u["source"] == "own" for u in rep_off["units"])
    assert sum(rep_on["summary"]["units_by_source"].values()) == 4
    tj = [json.loads(t) for t in read_pairs(tmp_path / "on.parquet").column("reg_transform").to_pylist()]
    for t, u in zip(tj, rep_on["units"]):
        assert t["source"] == u["source"] in (OWN, CONSENSUS)
        assert t["case_consensus"]["parameters"] == u["consensus"]["transform"]["parameters"]
        assert t["case_consensus"]["accept_nmi"] == pytest.approx(u["consensus"]["accept_nmi"])
        assert t["unit_nmi_after"] - t["unit_nmi_before"] > CFG.min_nmi_gain
    assert "case_consensus" not in json.loads(read_pairs(tmp_path / "off.parquet")["reg_transform"][0].as_py())
