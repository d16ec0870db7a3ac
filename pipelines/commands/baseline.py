"""``medfuse baseline``: fuse folders of image pairs with a classical baseline and write PNGs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.cli import CliError

NAME = "baseline"
HELP = "fuse image pairs with a classical baseline (mean, max, pca, laplacian, dwt, guided, return_a/b)"


def add_arguments(p) -> None:
    p.add_argument("--method", required=True, help="baseline name (see docs/evaluation.md)")
    p.add_argument("--a-dir", required=True, help="folder of source A images (MRI, grey)")
    p.add_argument("--b-dir", required=True, help="folder of source B images (CT/PET/SPECT, grey or pseudo-colour)")
    p.add_argument("--out-dir", required=True, help="folder for the fused PNGs (same stems)")


def run(args) -> int:
    from tqdm import tqdm

    from pipelines.baselines import BASELINES, fuse_colour
    from pipelines.imaging.color import grey_a
    from pipelines.imaging.io import list_images, read_image_01, write_png
    try:
        fuser = BASELINES.get(args.method)
    except KeyError as exc:
        raise CliError(exc.args[0]) from None
    a_files, b_files = list_images(args.a_dir), list_images(args.b_dir)
    if not a_files:
        raise CliError(f"{args.a_dir}: no images found")
    for stem, ap in a_files.items():
        if stem not in b_files:
            raise CliError(f"{ap}: no partner named {stem}.* in {args.b_dir}")
    for stem, bp in b_files.items():
        if stem not in a_files:
            raise CliError(f"{bp}: no partner named {stem}.* in {args.a_dir}")
    out_dir = Path(args.out_dir)
    written = 0
    for stem, ap in tqdm(a_files.items(), desc=args.method, unit="pair", disable=len(a_files) < 20):
        bp = b_files[stem]
        a, b = grey_a(read_image_01(ap), str(ap)), read_image_01(bp)
        if a.shape[:2] != b.shape[:2]:
            raise CliError(f"{bp}: size {b.shape[1]}x{b.shape[0]} differs from {ap} ({a.shape[1]}x{a.shape[0]})")
        if b.ndim == 3:
            _, fused = fuse_colour(fuser, a, b)
        else:
            fused = fuser(a, b)
        write_png(out_dir / f"{stem}.png", np.asarray(fused))
        written += 1
    print(f"{written} fused image(s) written to {out_dir} ({args.method})")
    return 0
