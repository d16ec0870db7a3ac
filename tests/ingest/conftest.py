"""Small phantom data sets shared by the ingest tests (2 cases x 3 slices, simulated once, written in all
three formats)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.phantom.generate import PhantomParams, generate_formats
from pipelines.readers import ReaderOptions

SMALL = PhantomParams(cases=2, seed=7, slices=3, tasks=["MRI_CT", "MRI_PET", "MRI_SPECT", "MRI_T2"])
SIZE = 64


@pytest.fixture(scope="session")
def small() -> PhantomParams:
    return SMALL


@pytest.fixture(scope="session")
def phantom_sets(tmp_path_factory) -> dict[str, Path]:
    """format -> folder of the same two phantom cases."""
    root = tmp_path_factory.mktemp("phantom")
    outs = {f: root / f for f in ("aanlib", "nifti", "dicom")}
    generate_formats(outs, SMALL, progress=False)
    return outs


@pytest.fixture
def options() -> ReaderOptions:
    return ReaderOptions(size=SIZE, progress=False)


@pytest.fixture
def phantom_copy(phantom_sets, tmp_path):
    """A writable copy of one format's folder: ``phantom_copy("nifti")``."""
    def make(fmt: str) -> Path:
        dst = tmp_path / fmt
        shutil.copytree(phantom_sets[fmt], dst)
        return dst
    return make
