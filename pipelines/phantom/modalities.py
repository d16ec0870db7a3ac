"""Modality simulators: small pure functions from tissue fractions to an image in physical units.

Each is registered by name in :data:`MODALITIES` with what the writers need (DICOM modality, unit, MR
sequence) and the grid it is simulated on: ``voxel_mm=None`` means directly on the written slices (MR, CT:
point-wise physics, in-plane blur only), a number means on a 3-D grid of that voxel size (PET 2 mm, SPECT
4 mm, like reconstructed emission images), because their point-spread function is 3-D; the case generator
then reslices them onto the written slices (as the Harvard PET/SPECT slices are resliced to the MRI).

* MR (T2, PD, FLAIR): spin-echo ``S = PD (1 - e^{-TR/T1}) e^{-TE/T2}`` and inversion recovery
  ``S = PD |1 - 2 e^{-TI/T1} + e^{-TR/T1}| e^{-TE/T2}`` per tissue, summed over the voxel's tissue fractions
  (signed for IR, magnitude taken after the sum, as a scanner does); a smooth multiplicative coil bias; Rician
  noise (magnitude of complex Gaussian noise) with sigma ~1 % of the brightest tissue.  1.5 T sequences:
  T2w TR 4000 / TE 100, PDw TR 4000 / TE 12, FLAIR TR 9000 / TE 100 with TI chosen to null CSF
  (``TI = T1_csf ln(2 / (1 + e^{-TR/T1_csf}))`` = 1705 ms for T1_csf = 2569 ms).
* T1 (the A image): the real ICBM152 T1 template inside the brain; lesions and the tissues outside the brain
  (which the skull-stripped template lacks) from a spin-echo T1w (TR 500 / TE 12) scaled so that white
  matter matches the template; then bias and Rician noise as above.
* CT: ``HU = sum_i f_i HU_i + f_air (-1000)``, Gaussian in-plane blur sigma 0.5 mm, Gaussian noise of a few HU.
* FDG-PET: activity GM:WM = 4:1 (per case 3.6-4.4), CSF 0.05, fat/skin 0.5, bone 0.3, tumour 1.5 x GM,
  necrosis 0.3, oedema 0.8 x WM, hypoperfused region x (1 - severity / 2); 3-D Gaussian PSF of 6 mm FWHM;
  Poisson counts with 100-160 expected counts at grey-matter level per 2 mm voxel; image in Bq/ml.
* Perfusion SPECT (99mTc-HMPAO): GM:WM = 2.5:1 (per case 2.2-2.8), CSF 0, fat/skin 0.3, bone 0.1, tumour
  1.2, necrosis 0.2, oedema 0.6, hypoperfused region x (1 - severity); 12 mm FWHM; 30-50 counts per 4 mm voxel
  at grey-matter level (fewer counts, so noisier than PET); image in counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import ndimage as ndi

from gan_models.registry import Registry
from pipelines.phantom.fields import PlaneWaveField, on_grid
from pipelines.phantom.tissue import AIR_HU, CT_HU, MRTissue, TissueSample, bone_hu, marrow_share

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


@dataclass(frozen=True)
class CasePhysics:
    """Per-case physical parameters (the case's "intensity variation")."""

    mr: dict[str, MRTissue]
    mr_noise: float                       # Rician sigma as a fraction of the brightest tissue signal
    bias: dict[str, PlaneWaveField]       # per MR modality: log-bias field in scanner mm
    ct_noise_hu: float
    pet_gm_wm: float
    pet_gm_counts: float                  # expected counts per PET voxel at GM level (before blur)
    pet_gm_bqml: float                    # activity concentration of GM in Bq/ml
    spect_gm_wm: float
    spect_gm_counts: float
    hypo_severity: float = 0.0
    t1_wm_level: float = 0.87             # template T1 (max 1) of white matter: Anatomy.t1_wm_level

    def to_json(self) -> dict:
        return {"mr_noise_fraction": round(self.mr_noise, 5), "ct_noise_hu": round(self.ct_noise_hu, 3),
                "pet_gm_wm_ratio": round(self.pet_gm_wm, 4), "pet_gm_counts": round(self.pet_gm_counts, 2),
                "pet_gm_bqml": round(self.pet_gm_bqml, 1), "spect_gm_wm_ratio": round(self.spect_gm_wm, 4),
                "spect_gm_counts": round(self.spect_gm_counts, 2),
                "mr_tissues": {k: [round(v.t1_ms, 2), round(v.t2_ms, 2), round(v.pd, 4)] for k, v in self.mr.items()}}


Simulator = Callable[[TissueSample, CasePhysics, np.random.Generator, tuple, bool], np.ndarray]


@dataclass(frozen=True)
class ModalitySpec:
    name: str
    dicom_modality: str            # CT | MR | PT | NM
    unit: str
    voxel_mm: float | None         # None: simulated on the written slices; else on a 3-D grid
    psf_fwhm_mm: float = 0.0       # for 3-D grids: how far (3 sigma) beyond the slab to simulate
    sequence: dict = field(default_factory=dict)
    simulate: Simulator | None = None
    pseudo_colour: bool = False


MODALITIES: Registry[ModalitySpec] = Registry("phantom modality")


def register_modality(spec: ModalitySpec):
    def deco(fn: Simulator) -> Simulator:
        MODALITIES.register(spec.name)(ModalitySpec(**{**spec.__dict__, "simulate": fn}))
        return fn
    return deco


# ----------------------------------------------------------------------------------------------- MR physics
def spin_echo(t: MRTissue, tr: float, te: float) -> float:
    return t.pd * (1.0 - math.exp(-tr / t.t1_ms)) * math.exp(-te / t.t2_ms)


def inversion_recovery_signed(t: MRTissue, tr: float, te: float, ti: float) -> float:
    return t.pd * (1.0 - 2.0 * math.exp(-ti / t.t1_ms) + math.exp(-tr / t.t1_ms)) * math.exp(-te / t.t2_ms)


def csf_null_ti(t1_csf: float, tr: float) -> float:
    return t1_csf * math.log(2.0 / (1.0 + math.exp(-tr / t1_csf)))


FLAIR_TR, FLAIR_TE = 9000.0, 100.0
FLAIR_TI = round(csf_null_ti(2569.0, FLAIR_TR), 1)
SEQUENCES = {
    "T1": {"kind": "SE", "tr_ms": 500.0, "te_ms": 12.0},
    "T2": {"kind": "SE", "tr_ms": 4000.0, "te_ms": 100.0},
    "PD": {"kind": "SE", "tr_ms": 4000.0, "te_ms": 12.0},
    "FLAIR": {"kind": "IR", "tr_ms": FLAIR_TR, "te_ms": FLAIR_TE, "ti_ms": FLAIR_TI},
}


def tissue_signals(seq: dict, mr: dict[str, MRTissue]) -> dict[str, float]:
    """Signal of each pure tissue for a sequence (signed for IR)."""
    if seq["kind"] == "SE":
        return {k: spin_echo(t, seq["tr_ms"], seq["te_ms"]) for k, t in mr.items()}
    return {k: inversion_recovery_signed(t, seq["tr_ms"], seq["te_ms"], seq["ti_ms"]) for k, t in mr.items()}


def mr_clean(t: TissueSample, seq: dict, mr: dict[str, MRTissue]) -> np.ndarray:
    """Noise-free MR signal: fraction-weighted sum of tissue signals (bone split into compact + marrow)."""
    s = tissue_signals(seq, mr)
    out = np.zeros(t.shape, np.float64)
    for name, frac in t.fractions.items():
        if name == "bone":
            m = marrow_share(t.bone_depth)
            out += frac * (m * s["marrow"] + (1.0 - m) * s["bone"])
        else:
            out += frac * s[name]
    return np.abs(out)


def rician(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    n1 = rng.normal(0.0, sigma, clean.shape)
    n2 = rng.normal(0.0, sigma, clean.shape)
    return np.sqrt((clean + n1) ** 2 + n2 ** 2)


def _bias_and_noise(clean: np.ndarray, t: TissueSample, phys: CasePhysics, name: str,
                    rng: np.random.Generator, noise: bool) -> np.ndarray:
    img = clean
    if name in phys.bias:
        img = img * np.exp(on_grid(phys.bias[name], t.scanner_mm)[0])
    if noise:
        ref = float(np.percentile(clean, 99.9)) if clean.size else 1.0
        img = rician(img, phys.mr_noise * ref, rng)
    return img.astype(np.float32)


def _mr_simulator(name: str) -> Simulator:
    def simulate(t: TissueSample, phys: CasePhysics, rng: np.random.Generator, spacing: tuple,
                 noise: bool = True) -> np.ndarray:
        return _bias_and_noise(mr_clean(t, SEQUENCES[name], phys.mr), t, phys, name, rng, noise)
    simulate.__name__ = f"simulate_{name.lower()}"
    simulate.__doc__ = f"{name}-weighted MR, sequence {SEQUENCES[name]} (see module docstring)."
    return simulate


for _name in ("T2", "PD", "FLAIR"):
    register_modality(ModalitySpec(_name, "MR", "a.u.", None, sequence=SEQUENCES[_name]))(_mr_simulator(_name))


@register_modality(ModalitySpec("T1", "MR", "a.u.", None, sequence=SEQUENCES["T1"]))
def simulate_t1(t: TissueSample, phys: CasePhysics, rng: np.random.Generator, spacing: tuple,
                noise: bool = True) -> np.ndarray:
    """The real template T1 in the brain; simulated T1w (calibrated on WM) for lesions and extra-cranial
    tissue."""
    if t.t1_template is None:
        raise ValueError("the T1 simulator needs the template T1 sampled (sample_tissues(..., with_t1=True))")
    seq = SEQUENCES["T1"]
    s = tissue_signals(seq, phys.mr)
    gain = phys.t1_wm_level / s["wm"]
    lesion = t.fractions["tumour"] + t.fractions["necrosis"] + t.fractions["oedema"]
    # the template's own signal where there is brain (none outside it: the template is skull-stripped)
    keep = np.where(t.brain_total > 0, np.clip(1.0 - lesion / np.maximum(t.brain_total, 1e-6), 0.0, 1.0), 0.0)
    simulated = ("bone", "fat", "skin", "tumour", "necrosis", "oedema")
    sim = TissueSample({k: v for k, v in t.fractions.items() if k in simulated}, t.bone_depth, t.t1_template,
                       t.brain_total, t.csf_outside, t.hypoperfusion, t.scanner_mm)
    clean = t.t1_template * keep + gain * (mr_clean(sim, seq, phys.mr) + t.csf_outside * s["csf"])
    return _bias_and_noise(clean, t, phys, "T1", rng, noise)


# ----------------------------------------------------------------------------------------------------- CT
@register_modality(ModalitySpec("CT", "CT", "HU", None))
def simulate_ct(t: TissueSample, phys: CasePhysics, rng: np.random.Generator, spacing: tuple,
                noise: bool = True) -> np.ndarray:
    hu = np.full(t.shape, 0.0, np.float64)
    for name, frac in t.fractions.items():
        hu += frac * (bone_hu(t.bone_depth) if name == "bone" else CT_HU[name])
    hu += t.air() * AIR_HU
    sigma = [0.0] + [0.5 / s for s in spacing[1:]]
    hu = ndi.gaussian_filter(hu, sigma, mode="nearest")
    if noise:
        hu = hu + rng.normal(0.0, phys.ct_noise_hu, hu.shape)
    return hu.astype(np.float32)


# -------------------------------------------------------------------------------------------- PET and SPECT
PET_UPTAKE = {"wm": 1.0, "csf": 0.05, "fat": 0.5, "skin": 0.5, "bone": 0.3, "necrosis": 0.3, "oedema": 0.8}
SPECT_PERFUSION = {"wm": 1.0, "csf": 0.0, "fat": 0.3, "skin": 0.3, "bone": 0.1, "tumour": 1.2, "necrosis": 0.2,
                   "oedema": 0.6}
PET_FWHM_MM, SPECT_FWHM_MM = 6.0, 12.0


def emission_activity(t: TissueSample, uptake: dict[str, float], gm: float, hypo_drop: float) -> np.ndarray:
    """Fraction-weighted activity, multiplied by ``1 - hypo_drop`` in the hypoperfused region."""
    table = {**uptake, "gm": gm}
    table.setdefault("tumour", 1.5 * gm)
    act = np.zeros(t.shape, np.float64)
    for name, frac in t.fractions.items():
        act += frac * table[name]
    return act * (1.0 - hypo_drop * t.hypoperfusion)


def emission_image(activity: np.ndarray, gm_level: float, fwhm_mm: float, spacing: tuple, gm_counts: float,
                   rng: np.random.Generator, noise: bool) -> np.ndarray:
    """3-D Gaussian PSF, then Poisson counts; returned in counts (expected counts when noise is off)."""
    sigma = [fwhm_mm * FWHM_TO_SIGMA / s for s in spacing]
    expected = ndi.gaussian_filter(activity, sigma, mode="constant") * (gm_counts / gm_level)
    return rng.poisson(np.clip(expected, 0, None)).astype(np.float64) if noise else expected


@register_modality(ModalitySpec("PET", "PT", "Bq/ml", 2.0, PET_FWHM_MM, pseudo_colour=True))
def simulate_pet(t: TissueSample, phys: CasePhysics, rng: np.random.Generator, spacing: tuple,
                 noise: bool = True) -> np.ndarray:
    act = emission_activity(t, PET_UPTAKE, phys.pet_gm_wm, phys.hypo_severity / 2.0)
    counts = emission_image(act, phys.pet_gm_wm, PET_FWHM_MM, spacing, phys.pet_gm_counts, rng, noise)
    return (counts * (phys.pet_gm_bqml / phys.pet_gm_counts)).astype(np.float32)


@register_modality(ModalitySpec("SPECT", "NM", "counts", 4.0, SPECT_FWHM_MM, pseudo_colour=True))
def simulate_spect(t: TissueSample, phys: CasePhysics, rng: np.random.Generator, spacing: tuple,
                   noise: bool = True) -> np.ndarray:
    act = emission_activity(t, SPECT_PERFUSION, phys.spect_gm_wm, phys.hypo_severity)
    return emission_image(act, phys.spect_gm_wm, SPECT_FWHM_MM, spacing, phys.spect_gm_counts, rng,
                          noise).astype(np.float32)
