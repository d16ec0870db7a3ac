"""``medfuse score``: the reference metrics for a folder of fused images against their sources."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from pipelines.cli import CliError
from pipelines.errors import positive_int, writable_file

NAME = "score"
HELP = "score fused images against their sources with the reference fusion metrics"
DESCRIPTION = (
    "Pairs the files of --fused, --a and --b by file stem, reads every image the way the field's reference "
    "evaluator does (colour -> BT.601 luma, rounded to 0..255), prints the mean of each metric (2 decimals; "
    "NaN values are counted and left out of the mean, with a note) and optionally writes a per-image CSV.")


def add_arguments(p) -> None:
    p.add_argument("--fused", required=True, help="folder of fused images")
    p.add_argument("--a", required=True, help="folder of source A images (MRI)")
    p.add_argument("--b", required=True, help="folder of source B images (CT/PET/SPECT)")
    p.add_argument("--csv", default=None, help="write per-image values to this CSV")
    p.add_argument("--fmi", action="store_true", help="also compute FMI_pixel/FMI_dct/FMI_w (slow, ~1 s/pair)")
    p.add_argument("--ssim-data-range", type=float, default=2.0,
                   help="SSIM data_range: 2 = CDDFuse/DDFM/EMMA convention (default), 255 = FILM's")
    p.add_argument("--batch", type=positive_int, default=16, help="images scored per batch (>= 1)")


def match_triplets(fused_dir, a_dir, b_dir) -> list[tuple[str, Path, Path, Path]]:
    from pipelines.imaging.io import list_images
    fused, a, b = list_images(fused_dir), list_images(a_dir), list_images(b_dir)
    if not fused:
        raise CliError(f"{fused_dir}: no images found")
    out = []
    for stem, fp in fused.items():
        if stem not in a:
            raise CliError(f"{fp}: no partner named {stem}.* in {a_dir}")
        if stem not in b:
            raise CliError(f"{fp}: no partner named {stem}.* in {b_dir}")
        out.append((stem, fp, a[stem], b[stem]))
    return out


def read_triplet(fp: Path, ap: Path, bp: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from pipelines.imaging.io import read_gray_255
    imgs = [read_gray_255(p) for p in (fp, ap, bp)]
    for p, im in zip((ap, bp), imgs[1:]):
        if im.shape != imgs[0].shape:
            raise CliError(f"{p}: size {im.shape[1]}x{im.shape[0]} differs from the fused image {fp} "
                           f"({imgs[0].shape[1]}x{imgs[0].shape[0]})")
    return tuple(im.astype(np.float64) for im in imgs)


def run(args) -> int:
    from tqdm import tqdm

    from pipelines.metrics import aggregate, metric_names, nan_notes, score_batch
    if args.csv:
        writable_file(args.csv, "--csv")                      # before the work, not after it
    triplets = match_triplets(args.fused, args.a, args.b)
    images = [read_triplet(*t[1:]) for t in triplets]         # reads all first: bad input fails fast
    names = metric_names(include_slow=args.fmi)
    options = {"SSIM": {"data_range": args.ssim_data_range}}
    per_image: dict[str, list[float]] = {}
    # group by size so each batch is one array
    order = sorted(range(len(images)), key=lambda i: images[i][0].shape)
    rows: dict[int, dict[str, float]] = {}
    for start in tqdm(range(0, len(order), args.batch), desc="score", unit="batch", disable=len(order) <= args.batch):
        idx = order[start:start + args.batch]
        shapes = {images[i][0].shape for i in idx}
        for shape in shapes:
            sub = [i for i in idx if images[i][0].shape == shape]
            F, A, B = (np.stack([images[i][k] for i in sub]) for k in range(3))
            res = score_batch(F, A, B, metrics=names, options=options)
            for j, i in enumerate(sub):
                rows[i] = {c: float(v[j]) for c, v in res.items()}
    columns = list(rows[0].keys())
    for c in columns:
        per_image[c] = [rows[i][c] for i in range(len(images))]
    summary = aggregate(per_image)
    print(f"{len(images)} image(s); fused images scored as read (no stretch); SSIM data_range="
          f"{args.ssim_data_range:g}; MI in nats")
    width = max(len(c) for c in columns)
    for c in columns:
        print(f"{c:<{width}}  {summary[c]:.2f}")
    for note in nan_notes(summary):
        print(f"note: {note}")
    if args.csv:
        out = writable_file(args.csv, "--csv")
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["name", *columns])
            for i, t in enumerate(triplets):
                w.writerow([t[0], *(repr(rows[i][c]) for c in columns)])
        print(f"per-image values written to {out}")
    return 0
