"""Tissue classes, their physical properties, and tissue fractions sampled at arbitrary points.

Brain: GM and WM probability maps of the template; CSF fills the rest of the (closed) brain.  Around it
there is no bone map in nilearn, so the head is built from shells at signed distances ``d`` outside the
brain surface (:mod:`pipelines.phantom.anatomy`): a CSF gap (subarachnoid space, 1.5-3 mm), the skull
(5-8 mm, thickness varying smoothly over the head by +-20 %), subcutaneous fat (2-4 mm) and skin (1.5-2.5 mm),
then air.  Each boundary has a 1 mm linear partial-volume ramp.  Inside the skull a depth ``t`` (0 = inner
table, 1 = outer table) drives the bone's make-up: compact tables at both surfaces, marrow-rich diploe in
between.

Property tables (1.5 T relaxation in ms, proton density relative to CSF):

* CSF 2569/329/1.00, GM 833/83/0.86, WM 500/70/0.77: BrainWeb's 1.5 T tissue table (Kwan, Evans & Pike,
  IEEE TMI 1999; ``brainweb1_tissues.csv``).
* fat 350/70/1.00 and skin/muscle 900/47/0.80 (BrainWeb's values for those classes are of the same order;
  the exact numbers were not available offline, these are typical 1.5 T literature values).
* compact bone: PD 0.05, T2 1 ms (no MR signal); diploic marrow behaves as fat.
* tumour (solid glioma) 1250/150/0.90, necrosis 2000/250/0.95, vasogenic oedema 1100/200/0.95: typical
  1.5 T values (long T1 and T2, so hyperintense on T2/FLAIR, hypointense on T1).

CT (HU): GM 37, WM 29, CSF 8 (extra-axial CSF too), fat -90, skin 45, air -1000, tumour 33, necrosis 15,
oedema 18; bone ``650 + 850 (2t - 1)^2`` (1500 HU tables, 650 HU diploe, mean ~930 HU across the skull).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pipelines.phantom.anatomy import Anatomy, sample
from pipelines.phantom.fields import PlaneWaveField, on_grid
from pipelines.phantom.pathology import Hypoperfusion, Tumour

TISSUES = ("gm", "wm", "csf", "bone", "fat", "skin", "tumour", "necrosis", "oedema")


@dataclass(frozen=True)
class MRTissue:
    t1_ms: float
    t2_ms: float
    pd: float


MR_TISSUES = {
    "csf": MRTissue(2569.0, 329.0, 1.00),
    "gm": MRTissue(833.0, 83.0, 0.86),
    "wm": MRTissue(500.0, 70.0, 0.77),
    "fat": MRTissue(350.0, 70.0, 1.00),
    "skin": MRTissue(900.0, 47.0, 0.80),
    "bone": MRTissue(300.0, 1.0, 0.05),
    "marrow": MRTissue(350.0, 70.0, 1.00),
    "tumour": MRTissue(1250.0, 150.0, 0.90),
    "necrosis": MRTissue(2000.0, 250.0, 0.95),
    "oedema": MRTissue(1100.0, 200.0, 0.95),
}

CT_HU = {"gm": 37.0, "wm": 29.0, "csf": 8.0, "fat": -90.0, "skin": 45.0, "tumour": 33.0, "necrosis": 15.0,
         "oedema": 18.0}
AIR_HU = -1000.0


def bone_hu(depth: np.ndarray) -> np.ndarray:
    """HU across the skull: compact tables (1500 HU) at depth 0 and 1, diploe (650 HU) in the middle."""
    return 650.0 + 850.0 * (2.0 * depth - 1.0) ** 2


def marrow_share(depth: np.ndarray) -> np.ndarray:
    """Share of the bone volume that is fatty marrow (diploe), 0 at the tables, 0.6 mid-skull."""
    return 0.6 * np.clip(1.0 - (2.0 * depth - 1.0) ** 2, 0.0, 1.0)


@dataclass(frozen=True)
class HeadLayers:
    csf_gap_mm: float
    skull_mm: float
    fat_mm: float
    skin_mm: float
    skull_variation: PlaneWaveField | None = None    # relative thickness change (+-), template coordinates

    def to_json(self) -> dict:
        return {"csf_gap_mm": round(self.csf_gap_mm, 3), "skull_mm": round(self.skull_mm, 3),
                "fat_mm": round(self.fat_mm, 3), "skin_mm": round(self.skin_mm, 3)}


def random_layers(rng: np.random.Generator, variation: PlaneWaveField) -> HeadLayers:
    return HeadLayers(float(rng.uniform(1.5, 3.0)), float(rng.uniform(5.0, 8.0)), float(rng.uniform(2.0, 4.0)),
                      float(rng.uniform(1.5, 2.5)), variation)


@dataclass
class TissueSample:
    """Tissue fractions (each of the sample's shape, summing to <= 1; air is the rest) plus the extras the
    simulators need."""

    fractions: dict[str, np.ndarray]
    bone_depth: np.ndarray          # 0..1 across the skull (meaningful where bone > 0)
    t1_template: np.ndarray | None  # the real T1 template (max 1) at these points (A frame only)
    brain_total: np.ndarray         # gm + wm + csf inside the brain before lesions replaced tissue
    csf_outside: np.ndarray         # the extra-axial part of "csf" (between brain and skull)
    hypoperfusion: np.ndarray       # 0..1 weight of the perfusion deficit
    scanner_mm: np.ndarray          # (3, ...) display-frame coordinates (x, y, z) of the points, for bias fields

    @property
    def shape(self) -> tuple[int, ...]:
        return self.bone_depth.shape

    def air(self) -> np.ndarray:
        return np.clip(1.0 - sum(self.fractions.values()), 0.0, 1.0)


def _ramp(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 0.5, 0.0, 1.0)


def _scatter(values: np.ndarray, where: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size, np.float32)
    out[where] = values
    return out


def sample_tissues(anatomy: Anatomy, template_pts: np.ndarray, layers: HeadLayers, tumour: Tumour | None,
                   hypoperfusion: Hypoperfusion | None, scanner_mm: np.ndarray,
                   with_t1: bool = True) -> TissueSample:
    """Tissue fractions at template voxel coordinates ``template_pts`` (3, ...); the template T1 is sampled
    only ``with_t1`` (the A image needs it).  Only points inside the head are computed (the rest is air), and
    the brain maps are only sampled within 2 mm of the brain surface or inside it."""
    shape = np.shape(template_pts)[1:]
    pts = np.asarray(template_pts, np.float32).reshape(3, -1)
    n = pts.shape[1]
    sd_all = sample(anatomy.outer_distance, pts, grid_mm=2.0, cval=1e3)
    max_reach = layers.csf_gap_mm + 1.2 * layers.skull_mm + layers.fat_mm + layers.skin_mm + 1.0
    head = np.nonzero(sd_all < max_reach)[0]
    p, sd = pts[:, head], sd_all[head]
    brain = sd < 2.0
    pb = p[:, brain]
    gm = np.zeros(len(head), np.float32)
    wm = np.zeros(len(head), np.float32)
    gm[brain] = sample(anatomy.gm, pb)
    wm[brain] = sample(anatomy.wm, pb)

    # head shells by signed distance to the brain surface
    skull = np.full(len(head), layers.skull_mm, np.float32)
    if layers.skull_variation is not None:
        variation = on_grid(layers.skull_variation, template_pts)[0].reshape(-1)[head]
        skull *= 1.0 + np.clip(variation, -0.2, 0.2)
    b1 = layers.csf_gap_mm
    b2 = b1 + skull
    b3 = b2 + layers.fat_mm
    b4 = b3 + layers.skin_mm
    inside = 1.0 - _ramp(sd)
    shells = {"csf_out": _ramp(sd) - _ramp(sd - b1), "bone": _ramp(sd - b1) - _ramp(sd - b2),
              "fat": _ramp(sd - b2) - _ramp(sd - b3), "skin": _ramp(sd - b3) - _ramp(sd - b4)}
    gm_wm = np.minimum(gm + wm, 1.0)
    csf_in = np.clip(inside - gm_wm, 0.0, 1.0)
    brain_total = gm_wm + csf_in
    shell_total = sum(shells.values())
    room = np.clip(1.0 - brain_total, 0.0, 1.0)
    scale = np.where(shell_total > room, room / np.maximum(shell_total, 1e-6), 1.0)
    shells = {k: (v * scale).astype(np.float32) for k, v in shells.items()}

    fr = {"gm": gm, "wm": wm, "csf": csf_in, "bone": shells["bone"], "fat": shells["fat"], "skin": shells["skin"]}
    zeros = np.zeros_like(gm)
    core = nec = oed = zeros
    if tumour is not None:
        core, nec, oed = tumour.weights(p)
        oed = oed * wm
        fr["gm"] = gm * (1.0 - core)
        fr["wm"] = np.clip(wm * (1.0 - core) - oed, 0.0, 1.0)
        fr["csf"] = csf_in * (1.0 - core)
    fr["csf"] = fr["csf"] + shells["csf_out"]
    fr["tumour"] = (core - nec) * brain_total
    fr["necrosis"] = nec * brain_total
    fr["oedema"] = oed
    depth = np.clip((sd - b1) / np.maximum(b2 - b1, 1e-3), 0.0, 1.0)
    hypo = hypoperfusion.weight(p) if hypoperfusion is not None else zeros

    def full(v: np.ndarray) -> np.ndarray:
        return _scatter(v, head, n).reshape(shape)

    t1 = None
    if with_t1:
        t1 = np.zeros(n, np.float32)
        t1[head[brain]] = sample(anatomy.t1, pb)
        t1 = t1.reshape(shape)
    return TissueSample({k: full(v) for k, v in fr.items()}, full(depth), t1, full(brain_total),
                        full(shells["csf_out"]), full(hypo), scanner_mm)


def jittered_mr_tissues(rng: np.random.Generator, rel_sd: float = 0.03) -> dict[str, MRTissue]:
    """Per-case relaxation times and PD: each value times (1 + N(0, rel_sd)) (biological variation)."""
    out = {}
    for name, t in MR_TISSUES.items():
        f = 1.0 + rng.normal(0.0, rel_sd, size=3)
        out[name] = replace(t, t1_ms=t.t1_ms * f[0], t2_ms=t.t2_ms * f[1], pd=t.pd * f[2])
    return out
