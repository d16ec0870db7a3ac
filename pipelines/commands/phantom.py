"""``medfuse phantom``: write the built-in multimodal brain phantom as AANLIB PNGs, NIfTI volumes or DICOM."""
from __future__ import annotations

import argparse

from pipelines.cli import CliError
from pipelines.errors import positive_int
from pipelines.phantom.generate import DEFAULT_TASKS, PhantomParams, generate_phantom
from pipelines.readers.tasks import DEFAULT_PAIRS
from pipelines.phantom.writers import FORMATS

NAME = "phantom"
HELP = "generate phantom patients (T1 + CT/PET/SPECT/T2/FLAIR/PD) from the ICBM152 anatomy in nilearn's wheel"
DESCRIPTION = (HELP + ". B images are misaligned with A by a known rigid motion recorded in <out>/truth.json. "
               "Nothing is downloaded.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder (created; must be empty unless --overwrite)")
    p.add_argument("--format", choices=FORMATS, default="aanlib", help="aanlib PNG folders, NIfTI or DICOM")
    p.add_argument("--cases", type=positive_int, default=4, help="number of patients (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed -> identical files)")
    p.add_argument("--slices", type=positive_int, default=10, help="axial slices per case, spread over the brain")
    p.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS, metavar="TASK",
                   help=f"tasks to write (default {' '.join(DEFAULT_TASKS)}; known: {' '.join(DEFAULT_PAIRS)})")
    p.add_argument("--color", choices=("on", "off"), default="on",
                   help="AANLIB: PET/SPECT as pseudo-colour RGB (on) or grey (off) PNGs")
    p.add_argument("--b-scale", type=positive_int, default=1, metavar="R",
                   help="CT/PET/SPECT from a detector with R x R mm pixels: B at 1/R of A's resolution "
                        "(multi-resolution fusion; default 1: B on A's grid)")
    p.add_argument("--overwrite", action="store_true", help="delete --out first if it is not empty")


def run(args: argparse.Namespace) -> int:
    try:
        params = PhantomParams(cases=args.cases, seed=args.seed, slices=args.slices, format=args.format,
                               tasks=list(args.tasks), color=args.color == "on", b_scale=args.b_scale)
        summary = generate_phantom(args.out, params, overwrite=args.overwrite)
    except FileExistsError as exc:
        raise CliError(f"{exc} (or pass --overwrite)") from exc
    coarse = f"; CT/PET/SPECT at 1/{args.b_scale} resolution" if args.b_scale > 1 else ""
    print(f"medfuse phantom: {len(summary.cases)} cases ({', '.join(summary.cases)}), {summary.files} files in "
          f"{summary.out} ({summary.format}) in {summary.seconds:.1f} s{coarse}; known misalignment in "
          f"{summary.truth}")
    return 0
