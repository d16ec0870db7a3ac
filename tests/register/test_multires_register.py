"""Registration across two resolutions: B at 1/r of A is moved onto A's field of view at B's own resolution."""
import math

import numpy as np
import pytest

from pipelines.imaging.multires import box_downsample
from pipelines.registration import engine
from pipelines.registration.align import UnitImages, align_unit, frame
from pipelines.registration.config import RegisterParams
from pipelines.registration.transforms import in_plane_motion

CFG = RegisterParams()
R = 4


@pytest.mark.parametrize("angle, tx, ty", [(4.0, 3.0, -2.0), (-3.5, -4.0, 2.5)])
def test_quarter_resolution_b_is_registered_on_its_own_grid(synthetic, angle, tx, ty):
    """A 128 px, B = the moved B image seen by a 4x coarser detector (32 px): the motion is recovered in A's
    physical frame, B comes back at 32 px on A's field of view, and every metric compares B with A box-averaged."""
    a = synthetic["head"](128)
    b_fine = synthetic["modality_b"](synthetic["head"](128, seed=1))
    centre = engine.image_centre(engine.to_image(a, (1.0, 1.0)))
    truth = synthetic["rigid"](angle, tx, ty, centre)
    b_low = box_downsample(synthetic["moved"](b_fine, truth), R)
    chroma = np.full_like(b_low, 0.7)
    out = align_unit(UnitImages(a, b_low, chroma, 1 - chroma, (1.0, 1.0), b_scale=R), CFG)
    assert out.status == "registered"
    want = in_plane_motion(truth, centre, (1.0, 1.0))
    assert abs(out.motion["rotation_deg"] - want["rotation_deg"]) < 0.5
    assert math.hypot(out.motion["shift_x_vox"] - want["shift_x_vox"],
                      out.motion["shift_y_vox"] - want["shift_y_vox"]) < 0.6     # A voxels (B voxels are 4)
    assert out.b.shape == out.b_cb.shape == (32, 32)
    inside = np.zeros((32, 32), bool)
    inside[5:-5, 5:-5] = True
    assert np.abs(out.b - box_downsample(b_fine, R))[inside].mean() < 0.04        # B back on A's grid, at 1/4
    np.testing.assert_allclose(out.b_cb[inside], 0.7, atol=1e-5)
    assert out.nmi_after > out.nmi_before + 0.05


def test_the_grids_share_one_field_of_view():
    a = np.zeros((64, 64), np.float32)
    unit = UnitImages(a, np.zeros((16, 16), np.float32), spacing=(0.5, 2.0), b_scale=R)
    fr = frame(unit, CFG)
    assert fr.moving.GetSpacing() == (8.0, 2.0)                       # sitk order (x, y): 4 x (2.0, 0.5)
    # B's first pixel centre lies (r - 1) / 2 A-pixels in: both images span [-half, 64 - half) A pixels
    assert fr.moving.GetOrigin() == pytest.approx((1.5 * 2.0, 1.5 * 0.5))
    np.testing.assert_allclose(engine.image_centre(fr.moving), engine.image_centre(fr.fixed))
    with pytest.raises(ValueError, match="at 1/4 of A in-plane"):
        UnitImages(a, np.zeros((32, 32), np.float32), b_scale=R)
