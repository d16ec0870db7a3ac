"""Fusion tasks: which two modalities form a pair.

A task is named ``<A>_<B>`` (``MRI_CT``).  In AANLIB folders the task folder holds the two modality folders
(``MRI_CT/MRI``, ``MRI_CT/CT``).  In NIfTI and DICOM data sets, where a case folder holds one volume or one
series per modality, this table says which two files make a task's pair (A first).  The phantom uses its
T1 as the A image of every task: one MR reference frame per case, one known misalignment for all B images.
(The Harvard MRI of the MRI_PET and MRI_SPECT pairs is mostly T2-weighted; its MRI_CT pairs mix T1 and T2.)

Override or extend with ``ingest.pairs`` in params.yaml, e.g. ``--set ingest.pairs.MRI_PET=[MRI,PET]`` for a
data set whose MR volumes are called ``MRI``.
"""
from __future__ import annotations

A_FOLDER = "MRI"                 # the AANLIB folder of the A image; the stored modality_a

DEFAULT_PAIRS: dict[str, tuple[str, str]] = {
    "MRI_CT": ("T1", "CT"),
    "MRI_PET": ("T1", "PET"),
    "MRI_SPECT": ("T1", "SPECT"),
    "MRI_T2": ("T1", "T2"),
    "MRI_FLAIR": ("T1", "FLAIR"),
    "MRI_PD": ("T1", "PD"),
}

MR_CONTRASTS = ("T1", "T2", "PD", "FLAIR", "MRI", "MR")


def pairs_for(tasks: list[str] | None = None, overrides: dict[str, list[str]] | None = None
              ) -> dict[str, tuple[str, str]]:
    """Task -> (A modality, B modality), defaults updated by ``overrides``; restricted to ``tasks``."""
    table = dict(DEFAULT_PAIRS)
    for task, pair in (overrides or {}).items():
        if len(pair) != 2:
            raise ValueError(f"ingest.pairs.{task}: expected [A, B], got {pair!r}")
        table[task] = (str(pair[0]), str(pair[1]))
    if tasks is None:
        return table
    unknown = [t for t in tasks if t not in table]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; known: {sorted(table)} (add one with ingest.pairs.<TASK>=[A,B])")
    return {t: table[t] for t in tasks}


def stored_modality_a(a: str) -> str:
    """``modality_a`` in the pair table: always ``MRI`` for an MR contrast (DESIGN §2)."""
    return A_FOLDER if a.upper() in MR_CONTRASTS else a.upper()
