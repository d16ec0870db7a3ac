"""Fixtures of the fusion-model tests: one phantom MRI/PET pair (H1's simulator, nothing downloaded), tiny
network widths per preset, and a one-thread torch session so timings do not depend on machine load."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.fusion_models.fusion_fixtures import square


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def phantom_slices() -> dict[str, np.ndarray]:
    """The middle slice of phantom case 0 (T1 MRI, PET, CT, T2), each normalised to [0, 1] the way ingest does."""
    from pipelines.phantom.anatomy import load_anatomy
    from pipelines.phantom.cases import A_MODALITY, make_case, simulate_case
    from pipelines.phantom.geometry import make_geometry
    from pipelines.readers.normalise import NormaliseParams, normalise_volume

    anatomy = load_anatomy()
    geometry = make_geometry(anatomy, 3)
    case = make_case(0, 0, anatomy, geometry, 0.0, 0.0)
    mods = [A_MODALITY, "PET", "CT", "T2"]
    vols = simulate_case(case, anatomy, geometry, mods)
    params = NormaliseParams()
    return {m: normalise_volume(m, vols[m], params)[1] for m in mods}


@pytest.fixture(scope="session")
def pair64(phantom_slices) -> dict[str, torch.Tensor]:
    return {"a": square(phantom_slices["T1"], 64), "b": square(phantom_slices["PET"], 64)}


@pytest.fixture(scope="session")
def pair32(phantom_slices) -> dict[str, torch.Tensor]:
    return {"a": square(phantom_slices["T1"], 32), "b": square(phantom_slices["PET"], 32)}


@pytest.fixture(scope="session")
def contrasts32(phantom_slices) -> dict[str, torch.Tensor]:
    """Multi-contrast batch for the synthesis presets (t1, t2, 'flair' and 't1ce' stand-ins from the phantom)."""
    t1, t2 = square(phantom_slices["T1"], 32), square(phantom_slices["T2"], 32)
    ct, pet = square(phantom_slices["CT"], 32), square(phantom_slices["PET"], 32)
    return {"t1": t1, "t2": t2, "flair": pet, "t1ce": ct, "a": t1, "b": pet}


