"""Case consensus: a second pass over the 2-D slices of one (task, case) after each was registered alone.

Slices cut from one pair of volumes share one head position, so one in-plane transform explains them all
(the phantom records exactly one per case).  Alone, a noisy slice can miss it: on the top-of-head SPECT
slices of the phantom the noise moves the per-slice MI optimum by up to 3 degrees.  The pass

1. takes the element-wise median of the parameters each slice ended with (its applied transform: the
   identity for a ``kept_original`` slice) over all slices of the group: :func:`transforms.median_transform`
   (rigid: angle, tx, ty; affine: the 6 parameters; the centre is common since every slice has the same size
   and spacing);
2. re-decides each slice among {identity, own candidate, consensus} by the accept/reject NMI
   (:mod:`pipelines.registration.align`, A and B blurred by ``accept_sigma_vox``) with :func:`decide`.

A group needs at least :data:`MIN_SLICES` slices of one size and spacing; otherwise it is skipped with a note.
A consensus that is the identity (e.g. already-registered real cases where most slices keep identity)
changes nothing, and no slice is given a transform whose accept NMI does not beat identity's by more than
``min_nmi_gain`` (the stage's "never worse" rule holds slice by slice).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from pipelines.registration import align
from pipelines.registration.align import UnitImages, UnitOutcome
from pipelines.registration.config import RegisterParams
from pipelines.registration.transforms import is_identity, median_transform, transform_from_dict

MIN_SLICES = 3
IDENTITY, OWN, CONSENSUS = "identity", "own", "case_consensus"


@dataclass(frozen=True)
class Decision:
    source: str        # IDENTITY | OWN | CONSENSUS
    reason: str


def decide(accept_identity: float, accept_own: float, accept_consensus: float, min_gain: float) -> Decision:
    """Which transform a slice takes, from the accept/reject NMI of each (``accept_own`` NaN: optimiser failed).

    Eligible: beats identity by more than ``min_gain``.  The consensus wins when eligible and the slice's own
    candidate does not beat it by more than ``min_gain`` (indistinguishable: the case's shared estimate wins);
    the own candidate when eligible and it beats the consensus by more than ``min_gain`` or the consensus is not
    eligible; otherwise the identity (original kept)."""
    own_ok = bool(np.isfinite(accept_own)) and accept_own - accept_identity > min_gain
    cons_ok = bool(np.isfinite(accept_consensus)) and accept_consensus - accept_identity > min_gain
    nums = (f"identity {accept_identity:.4f}, own candidate {accept_own:.4f}, case consensus "
            f"{accept_consensus:.4f}; min gain {min_gain:g}")
    if cons_ok and own_ok and accept_own - accept_consensus > min_gain:
        return Decision(OWN, f"own candidate beats the case consensus by more than the min gain ({nums})")
    if cons_ok:
        return Decision(CONSENSUS, ("own candidate is within the min gain of the case consensus" if own_ok else
                                    "own candidate is not above identity by the min gain")
                        + f" and the consensus is ({nums})")
    if own_ok:
        return Decision(OWN, f"case consensus is not above identity by the min gain ({nums})")
    return Decision(IDENTITY, f"neither the own candidate nor the case consensus is above identity by the min gain "
                              f"({nums})")


def group_problem(images: list[UnitImages]) -> str | None:
    """Why a group of slice units cannot share one consensus (None when it can)."""
    if len(images) < MIN_SLICES:
        return f"{len(images)} slice(s), fewer than {MIN_SLICES}"
    if len({im.a.shape for im in images}) != 1 or len({tuple(im.spacing) for im in images}) != 1:
        return "slices differ in size or spacing"
    if any(im.a.ndim != 2 for im in images):
        return "not 2-D slices"
    return None


def refine_group(group: str, images: list[UnitImages], outcomes: list[UnitOutcome],
                 cfg: RegisterParams) -> list[UnitOutcome]:
    """The group's outcomes after the consensus pass; each carries a ``consensus`` record (skipped or not)."""
    if len(images) != len(outcomes):
        raise ValueError(f"{group}: {len(images)} images but {len(outcomes)} outcomes")
    problem = group_problem(images)
    if problem is not None:
        note = {"group": group, "slices": len(images), "status": "skipped", "note": problem}
        return [replace(o, consensus=note) for o in outcomes]
    consensus = median_transform([o.applied for o in outcomes])
    base = {"group": group, "slices": len(images), "transform": consensus}
    if is_identity(consensus):
        note = {**base, "status": "identity", "note": "case consensus is the identity: nothing changes"}
        return [replace(o, consensus=note) for o in outcomes]
    tx = transform_from_dict(consensus)
    return [_refine_one(im, out, tx, base, cfg) for im, out in zip(images, outcomes)]


def _refine_one(im: UnitImages, out: UnitOutcome, tx, base: dict, cfg: RegisterParams) -> UnitOutcome:
    t0 = time.perf_counter()
    fr = align.frame(im, cfg)
    ev = align.evaluate(fr, tx, cfg)
    d = decide(out.accept_nmi_before, out.accept_nmi_candidate, ev.accept_nmi, cfg.min_nmi_gain)
    record = {**base, "status": "applied", "accept_nmi": ev.accept_nmi, "nmi": ev.nmi, "chosen": d.source,
              "decision": d.reason}
    if d.source != CONSENSUS:
        # own / identity: the first pass's outcome, which applied the same rule to the same two numbers
        if d.source != out.source:
            raise RuntimeError(f"{base['group']}: consensus pass chose {d.source} but the first pass applied "
                               f"{out.source} on the same accept NMI")
        return replace(out, consensus=record, seconds=out.seconds + time.perf_counter() - t0)
    cand = None if out.candidate is None else transform_from_dict(out.candidate)
    new = align.applied_outcome(fr, ev, f"case consensus: {d.reason}", cfg, CONSENSUS, cand, out.candidate_nmi,
                                out.accept_nmi_candidate, out.optimiser, out.seconds + time.perf_counter() - t0)
    return replace(new, consensus=record)
