"""``medfuse fuse``: fuse image pairs with a trained model (a local checkpoint or an MLflow model URI).

Forms (DESIGN §6):

* one pair:   ``medfuse fuse --model models:/medfuse-MRI_PET@champion --a mri.png --b pet.png -o fused.png``
* folders:    ``--a-dir MRI/ --b-dir PET/ --out-dir FUSED/`` (pairs matched by file stem; any unmatched stem is
  an error, listed, before anything is written)
* NIfTI:      ``--a mri.nii.gz --b pet.nii.gz -o fused.nii.gz`` (or folders of .nii/.nii.gz): both volumes must
  share a grid (registered); each is normalised to [0, 1] the way ingest does it (CT: HU window, others:
  robust percentiles), fused slice by slice along the third axis, and written as float32 in [0, 1] with
  A's affine and header.
* multi-resolution: a model trained on pairs whose B is 1/r of A (``b_scale`` r) takes B at 1/r (a 64x64 PET
  with a 256x256 MRI; NIfTI: A's field of view and slices with in-plane voxels r times A's) and writes F at A's
  size, a pseudo-colour B's chroma upsampled bicubically; any other B size is one line naming both sizes and the
  model's r (exit code 2).

``--model`` takes a checkpoint (``models/final/MRI_PET`` or ``.../checkpoint.pt``) or an MLflow model URI
(``models:/``, ``runs:/``); it is loaded from its checkpoint and spec without running any code that came with it
(:mod:`pipelines.model_loading`; plugin modules only from ``train.plugins`` or ``--allow-plugin``).
A pseudo-colour B (RGB PNG) is fused on its luma and gets its colour back, so the output is RGB.  Output paths are
checked before the model is loaded.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

NAME = "fuse"
HELP = "fuse MRI + CT/PET/SPECT images with a trained model (file, folder or NIfTI)"
NIFTI_SUFFIXES = (".nii", ".nii.gz")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="checkpoint path (models/final/<task>) or MLflow URI (models:/medfuse-<task>@champion)")
    p.add_argument("--a", type=Path, help="MRI image (PNG/JPEG/TIFF) or NIfTI volume")
    p.add_argument("--b", type=Path, help="CT/PET/SPECT image (grey or pseudo-colour) or NIfTI volume")
    p.add_argument("-o", "--out", type=Path, help="output file (.png or .nii/.nii.gz)")
    p.add_argument("--a-dir", type=Path, help="folder of MRI images/volumes")
    p.add_argument("--b-dir", type=Path, help="folder of the paired images/volumes (same stems)")
    p.add_argument("--out-dir", type=Path, help="output folder (one file per stem)")
    p.add_argument("--b-modality", default=None,
                   help="B modality for NIfTI normalisation (CT, PET, SPECT...); default: from the model's task")
    p.add_argument("--allow-plugin", action="append", default=[], metavar="MODULE",
                   help="a plugin module the model may import (besides train.plugins of ./params.yaml); "
                        "repeatable.  Nothing else the model names is imported")


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def stem(path: Path) -> str:
    name = path.name
    for suf in (".nii.gz", ".nii"):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return path.stem


def fuse_image_files(model, a_path: Path, b_path: Path, out: Path) -> Path:
    from pipelines.imaging.io import read_image_01, write_png
    from pipelines.imaging.color import grey_a
    from pipelines.training.inference import check_b_size
    a = grey_a(read_image_01(a_path), str(a_path))
    b = read_image_01(b_path)
    check_b_size(model.system, a.shape[:2], b.shape[:2], f"{b_path} (A: {a_path})")   # A's size or 1/r of it
    if out.suffix.lower() != ".png":
        raise ValueError(f"{out}: image output must be .png")
    return write_png(out, model.fuse(a.astype(np.float32), b.astype(np.float32)))


def on_a_grid(a_img, b_img, model) -> bool:
    """B's voxel grid is A's, or (a model built for r) A's field of view and slices at 1/r in-plane."""
    from pipelines.readers.volumes import lowres_grid
    from pipelines.training.inference import model_b_scale
    r = model_b_scale(model.system)
    shape, affine = (a_img.shape, a_img.affine) if r == 1 else lowres_grid(a_img, r)
    same = a_img.shape == b_img.shape and np.allclose(a_img.affine, b_img.affine, atol=1e-3)
    return same or (tuple(b_img.shape) == tuple(shape) and np.allclose(b_img.affine, affine, atol=1e-3))


def fuse_nifti_files(model, a_path: Path, b_path: Path, out: Path, b_modality: str) -> Path:
    import nibabel as nib
    from pipelines.readers.normalise import NormaliseParams, normalise_volume
    from pipelines.readers.volumes import in_plane_factor
    from pipelines.training.inference import model_b_scale
    imgs, vols = [], []
    for pth in (a_path, b_path):
        try:                                          # nibabel reads lazily: a truncated file fails on the data
            imgs.append(nib.load(str(pth)))
            vols.append(np.asarray(imgs[-1].dataobj, dtype=np.float64))
        except Exception as exc:  # noqa: BLE001 - nibabel / zlib / gzip raise several types for bad files
            raise ValueError(f"{pth}: not a readable NIfTI volume ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:200]})") from None
    va, vb = vols
    if va.ndim != 3 or vb.ndim != 3:
        raise ValueError(f"{a_path if va.ndim != 3 else b_path}: expected a 3-D volume, got shape "
                         f"{va.shape if va.ndim != 3 else vb.shape}")
    if not on_a_grid(imgs[0], imgs[1], model):
        r = in_plane_factor(imgs[0], imgs[1])
        raise ValueError(f"{b_path}: grid {vb.shape} / affine differ from {a_path} {va.shape}"
                         + (f" (B's in-plane voxels are {r} x A's, but the model takes B at 1/"
                            f"{model_b_scale(model.system)}; " if r > 1 else "; ")
                         + "resample B onto A first (e.g. the register stage)")
    if not is_nifti(out):
        raise ValueError(f"{out}: NIfTI input needs a .nii or .nii.gz output")
    norm = NormaliseParams()
    na = normalise_volume("MRI", va, norm)
    nb = normalise_volume(b_modality, vb, norm)
    slices_a = np.moveaxis(na, 2, 0).astype(np.float32)
    slices_b = np.moveaxis(nb, 2, 0).astype(np.float32)
    fused = np.moveaxis(model.fuse_batch(slices_a, slices_b), 0, 2).astype(np.float32)
    header = imgs[0].header.copy()
    header.set_data_dtype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(fused, imgs[0].affine, header), str(out))
    return out


def _pairs_from_dirs(a_dir: Path, b_dir: Path) -> list[tuple[str, Path, Path]]:
    from pipelines.imaging.io import IMAGE_SUFFIXES

    def listing(d: Path) -> dict[str, Path]:
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: folder not found")
        out: dict[str, Path] = {}
        for f in sorted(d.iterdir()):
            if f.is_file() and (is_nifti(f) or f.suffix.lower() in IMAGE_SUFFIXES):
                if stem(f) in out:
                    raise ValueError(f"{f}: two files share the stem {stem(f)!r} ({out[stem(f)].name})")
                out[stem(f)] = f
        if not out:
            raise ValueError(f"{d}: no images or NIfTI volumes")
        return out
    la, lb = listing(a_dir), listing(b_dir)
    only_a, only_b = sorted(set(la) - set(lb)), sorted(set(lb) - set(la))
    if only_a or only_b:
        raise ValueError(f"{a_dir} / {b_dir}: unpaired stems (A only: {only_a[:10]}, B only: {only_b[:10]})")
    return [(s, la[s], lb[s]) for s in sorted(la)]


def run(args: argparse.Namespace) -> int:
    from pipelines.cli import CliError
    from pipelines.errors import writable_dir, writable_file
    single = args.a is not None or args.b is not None or args.out is not None
    folder = args.a_dir is not None or args.b_dir is not None or args.out_dir is not None
    if single == folder:
        raise CliError("give either --a, --b and -o (one pair) or --a-dir, --b-dir and --out-dir (folders)")
    if single and not (args.a and args.b and args.out):
        raise CliError("one pair needs all of --a, --b and -o")
    if folder and not (args.a_dir and args.b_dir and args.out_dir):
        raise CliError("folders need all of --a-dir, --b-dir and --out-dir")
    if single:
        for p in (args.a, args.b):
            if not p.exists():
                raise FileNotFoundError(f"{p}: file not found")
        pairs = [(stem(args.a), args.a, args.b, args.out)]
    else:
        pairs = []
        for s, a, b in _pairs_from_dirs(args.a_dir, args.b_dir):
            out = args.out_dir / (f"{s}.nii.gz" if is_nifti(a) else f"{s}.png")
            pairs.append((s, a, b, out))
    for _, a, b, out in pairs:
        if is_nifti(a) != is_nifti(b):
            raise CliError(f"{a} / {b}: one is NIfTI and the other is not")
        if single and (not is_nifti(out) if is_nifti(a) else out.suffix.lower() != ".png"):
            raise CliError(f"-o {out}: " + ("NIfTI input needs a .nii or .nii.gz output" if is_nifti(a)
                                             else "image output must be .png"))
    if single:
        writable_file(args.out, "-o")
    else:
        writable_dir(args.out_dir, "--out-dir")

    from pipelines.model_loading import allowed_plugins, load_fusion_model
    model = load_fusion_model(str(args.model), allowed=[*allowed_plugins(), *args.allow_plugin])
    task = model.task or ""
    b_modality = args.b_modality or (task.split("_", 1)[1] if "_" in task else "PET")
    for i, (s, a, b, out) in enumerate(pairs, 1):
        if is_nifti(a):
            fuse_nifti_files(model, a, b, out, b_modality)
        else:
            fuse_image_files(model, a, b, out)
        print(f"[{i}/{len(pairs)}] {s} -> {out}", flush=True)
    return 0
