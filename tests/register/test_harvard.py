"""Already-registered real pairs (the team's harvard_dev copy, read in place, never copied) stay within a
small tolerance of identity.  Skipped where the folder is absent."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.imaging.color import rgb_to_ycbcr
from pipelines.registration.align import UnitImages, align_unit
from pipelines.registration.config import RegisterParams

HARVARD = Path(__file__).resolve().parents[3] / "shared" / "data" / "harvard_dev"
PAIRS = [("MRI_CT", "CT", "2010"), ("MRI_CT", "CT", "33012"), ("MRI_PET", "PET", "25042"),
         ("MRI_SPECT", "SPECT", "3020"), ("MRI_SPECT", "SPECT", "18030")]


def _grey(path: Path) -> np.ndarray:
    img = np.asarray(Image.open(path).convert("RGB"), np.float64) / 255.0
    return rgb_to_ycbcr(img)[0].astype(np.float32)


@pytest.mark.skipif(not HARVARD.is_dir(), reason=f"{HARVARD} not present (team-only development data)")
def test_registered_harvard_pairs_stay_near_identity():
    done = 0
    for task, mod, name in PAIRS:
        fa, fb = HARVARD / task / "MRI" / f"{name}.png", HARVARD / task / mod / f"{name}.png"
        if not (fa.exists() and fb.exists()):
            continue
        out = align_unit(UnitImages(_grey(fa), _grey(fb)), RegisterParams())
        done += 1
        if out.status == "kept_original":
            continue                       # identity kept: trivially within tolerance
        assert abs(out.motion["rotation_deg"]) < 2.0, (name, json.dumps(out.motion))
        assert out.max_displacement_vox < 3.0, (name, out.max_displacement_vox)
    assert done >= 3
