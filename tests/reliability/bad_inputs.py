"""The bad-input table: what a user can get wrong, and what medfuse does about it.

Each :class:`Case` is one input (a parameter, a file, a path, a flag), the command, the exit code and a fragment
of the one-line message (``where="stderr"``), or, for inputs that are used as far as they can be, a fragment of
the quarantine row's reason (``where="quarantine"``, exit 0).  ``test_bad_input_table.py`` runs every case and
checks that ``docs/bad_input.md`` shows exactly this table; after changing a case, regenerate the page with

    .venv/bin/python tests/reliability/bad_inputs.py --write
"""
from __future__ import annotations

import gzip
import io
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "bad_input.md"
START, END = "<!-- bad-input-table:start -->", "<!-- bad-input-table:end -->"


@dataclass(frozen=True)
class Case:
    id: str
    what: str                                  # the input, in words
    shown: str                                 # the command as the doc shows it
    entry: str                                 # "medfuse", a stage module name (pipelines.stages.<entry>) or a
                                               # dotted module of another entry point (pipelines.retrain)
    setup: Callable[[Path, dict], list[str]]   # (workdir, assets) -> argv; writes what the case needs
    fragment: str
    exit_code: int = 2
    where: str = "stderr"                      # "stderr" | "quarantine" (ingest) | "validated" (validate)
    slow: bool = False


# ---- setups ---------------------------------------------------------------------------------------------------

def params(text: str | None = None, extra: str = ""):
    """Write params.yaml (the project's, or ``text``) plus ``extra``; return ``argv``-builder's helper."""
    def write(work: Path) -> None:
        body = (ROOT / "params.yaml").read_text() if text is None else text
        (work / "params.yaml").write_text(body + extra)
    return write


def stage_args(*argv: str, params_text: str | None = None, extra: str = ""):
    def setup(work: Path, assets: dict) -> list[str]:
        params(params_text, extra)(work)
        return list(argv)
    return setup


def fill(argv: tuple[str, ...], work: Path, assets: dict) -> list[str]:
    """``{name}`` in an argument -> that asset's path (``{work}``: the case's working directory)."""
    names = {k: str(v) for k, v in assets.items()} | {"work": str(work)}
    return [a.format(**names) for a in argv]


def with_splits(*argv: str):
    """Project params plus a tiny train/val/test split (32 px toy pairs) in data/splits/."""
    def setup(work: Path, assets: dict) -> list[str]:
        params()(work)
        shutil.copytree(assets["splits"], work / "data" / "splits")
        return fill(argv, work, assets)
    return setup


def ingest_from(kind: str, make: Callable[[Path, dict], Path], size: int = 64):
    """Ingest a folder prepared by ``make(work, assets)``."""
    def setup(work: Path, assets: dict) -> list[str]:
        params()(work)
        src = make(work, assets)
        return ["--set", f"data.source.kind={kind}", "--set", f"data.source.path={src}", "--set",
                f"data.size={size}", "--set", "ingest.progress=false"]
    return setup


def copy_of(fmt: str, edit: Callable[[Path], None] | None = None):
    def make(work: Path, assets: dict) -> Path:
        dst = work / "src"
        shutil.copytree(assets[fmt], dst, symlinks=True)
        if edit:
            edit(dst)
        return dst
    return make


def empty_folder(work: Path, assets: dict) -> Path:
    (work / "src").mkdir()
    return work / "src"


def only_junk(work: Path, assets: dict) -> Path:
    (work / "src" / "MRI_CT" / "CT").mkdir(parents=True)
    (work / "src" / "MRI_CT" / "CT" / "notes.txt").write_text("scanner notes")
    return work / "src"


def drop_dicom_pixels(root: Path) -> None:
    import pydicom
    f = sorted((root / "ph01" / "CT").glob("*.dcm"))[1]
    ds = pydicom.dcmread(f)
    del ds.PixelData
    ds.save_as(f)


def truncate_dicom(root: Path) -> None:
    f = sorted((root / "ph01" / "CT").glob("*.dcm"))[1]
    f.write_bytes(f.read_bytes()[:600])


def dangling_mri(root: Path) -> None:
    f = root / "MRI_CT" / "MRI" / "ph01001.png"
    f.unlink()
    os.symlink("/nonexistent/ph01001.png", f)


def colour_mri(root: Path) -> None:
    shutil.copy(root / "MRI_PET" / "PET" / "ph01001.png", root / "MRI_PET" / "MRI" / "ph01001.png")


def zero_voxel_size(root: Path) -> None:
    import nibabel as nib
    f = root / "ph01" / "CT.nii.gz"
    raw = bytearray(gzip.decompress(f.read_bytes()))
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(bytes(raw)), check=False)
    hdr["pixdim"][1] = 0.0
    hdr["qform_code"], hdr["sform_code"] = 0, 0
    buf = io.BytesIO()
    hdr.write_to(buf)
    raw[:348] = buf.getvalue()[:348]
    f.write_bytes(gzip.compress(bytes(raw)))


def table_file(content: str | None, name: str = "data/ingested/pairs.parquet", *argv: str):
    """Project params and ``name`` holding: an empty pair table (None) or these bytes."""
    def setup(work: Path, assets: dict) -> list[str]:
        from pipelines.schema import write_pairs
        params()(work)
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            write_pairs([], path)
        else:
            path.write_text(content)
        return list(argv)
    return setup


def low_nmi_row(work: Path, assets: dict) -> list[str]:
    """A registered table of 24 MRI_CT pairs of which one ended below validate.min_nmi_after."""
    import numpy as np
    from pipelines.schema import make_pair_id, write_pairs
    rng = np.random.default_rng(0)
    rows = []
    for c in range(4):
        for k in range(6):
            rows.append(dict(pair_id=make_pair_id("MRI_CT", f"c{c}", k), task="MRI_CT", case_id=f"c{c}", slice=k,
                             modality_a="MRI", modality_b="CT", height=16, width=16,
                             a=rng.random((16, 16), np.float32), b=rng.random((16, 16), np.float32),
                             spacing_mm=[1.0, 1.0], source_a=f"/x/c{c}{k:03d}.png", source_b=f"/y/c{c}{k:03d}.png",
                             sha256_a="a" * 64, sha256_b="b" * 64, reg_nmi_before=1.1, reg_nmi_after=1.2,
                             reg_ncc_before=0.3, reg_ncc_after=0.4, reg_seconds=0.1, reg_status="registered",
                             meta={"format": "aanlib"},
                             reg_transform='{"type": "rigid", "unit_nmi_after": 1.2, "unit_nmi_before": 1.1}'))
    rows[7].update(reg_nmi_after=1.0158, reg_nmi_before=1.0158)
    write_pairs(rows, work / "data/registered/pairs.parquet")
    params()(work)
    return ["--set", "data.size=16"]


def cli(*argv: str, prepare: Callable[[Path, dict], None] | None = None):
    """``medfuse`` argv with the assets filled in (:func:`fill`)."""
    def setup(work: Path, assets: dict) -> list[str]:
        if prepare:
            prepare(work, assets)
        return fill(argv, work, assets)
    return setup


def a_file(name: str, content: bytes = b"x"):
    def prepare(work: Path, assets: dict) -> None:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(content)
    return prepare


def truncated_nifti(work: Path, assets: dict) -> None:
    data = (assets["nifti"] / "ph01" / "T1.nii.gz").read_bytes()
    (work / "t1.nii.gz").write_bytes(data[: len(data) // 3])
    shutil.copy(assets["nifti"] / "ph01" / "CT.nii.gz", work / "ct.nii.gz")


def plugin_model(work: Path, assets: dict) -> None:
    import torch
    payload = torch.load(assets["ckpt"], weights_only=True)
    payload["meta"]["model"]["plugins"] = ["some_module"]
    torch.save(payload, work / "model.pt")


def half_size_b(work: Path, assets: dict) -> None:
    """B at 1/2 of A (a multi-resolution pair) for a model trained with B at A's size."""
    from PIL import Image
    with Image.open(assets["b"]) as im:
        im.resize((im.width // 2, im.height // 2)).save(work / "b_half.png")


def multires_splits(*argv: str):
    """Project params plus the toy splits with B block-averaged to 1/4 (``b_scale`` 4) in data/splits/."""
    def setup(work: Path, assets: dict) -> list[str]:
        import pyarrow as pa

        from pipelines.imaging.multires import box_downsample
        from pipelines.schema import encode_image, read_pairs, table_images, write_pairs
        params()(work)
        for name in ("train", "val", "test"):
            t = read_pairs(assets["splits"] / f"{name}.parquet")
            low = [encode_image(x) for x in box_downsample(table_images(t, "b"), 4)]
            t = t.set_column(t.schema.get_field_index("b"), "b", pa.array(low, pa.binary()))
            t = t.set_column(t.schema.get_field_index("b_scale"), "b_scale", pa.array([4] * len(t), pa.int32()))
            write_pairs(t, work / "data" / "splits" / f"{name}.parquet")
        return list(argv)
    return setup


def quarter_pet_pair(root: Path) -> None:
    """One MRI_PET pair replaced by a 64-px MRI with a 16-px pseudo-colour PET (r = 4)."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(root / "MRI_PET" / "MRI" / "ph01001.png")
    Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)).save(root / "MRI_PET" / "PET" / "ph01001.png")


def full_folder(work: Path, assets: dict) -> None:
    (work / "out").mkdir()
    (work / "out" / "keep.txt").write_text("x")


# ---- the table ------------------------------------------------------------------------------------------------

P = "python -m pipelines.stages."
CASES: list[Case] = [
    # parameters
    Case("steps-not-a-number", "a training parameter that is not a number", P + "train --set train.steps=abc",
         "train", stage_args("--set", "train.steps=abc"), "train.steps: expected an integer, got 'abc'"),
    Case("steps-negative", "a negative step count", P + "train --set train.steps=-5", "train",
         stage_args("--set", "train.steps=-5"), "train.steps: must be >= 1, got -5"),
    Case("batch-zero", "batch size 0", P + "train --set train.batch_size=0", "train",
         stage_args("--set", "train.batch_size=0"), "train.batch_size: must be >= 1, got 0"),
    Case("crop-too-big", "a crop larger than the images", P + "train --set train.crop=4096", "train",
         with_splits("--set", "train.crop=4096"), "train.crop: 4096 is larger than the training images (32x32"),
    Case("checkpoint-every", "checkpoints not on validation steps", P + "train --set train.checkpoint_every=7",
         "train", stage_args("--set", "train.checkpoint_every=7"),
         "train.checkpoint_every (7) must be a multiple of train.val_every (20)"),
    Case("no-tasks", "no task to train", P + "train --set 'train.tasks=[]'", "train",
         stage_args("--set", "train.tasks=[]"), "train.tasks: list at least one task"),
    Case("unknown-section-set", "a misspelt section on the command line", P + "train --set trian.steps=10",
         "train", stage_args("--set", "trian.steps=10"), "unknown section 'trian' (did you mean 'train'?)"),
    Case("unknown-section-file", "a misspelt section in params.yaml", P + "split  (params.yaml has a splitt: section)",
         "split", stage_args(extra="\nsplitt:\n  salt: x\n"), "params.yaml: unknown section 'splitt' (did you mean"),
    Case("unknown-key", "a misspelt key", P + "register --set register.iterationz=5", "register",
         stage_args("--set", "register.iterationz=5"), "register: unknown key(s) ['iterationz']"),
    Case("data-key", "a misspelt key of the data section", P + "ingest --set data.sise=64", "ingest",
         stage_args("--set", "data.sise=64"), "data: unknown key(s) ['sise']"),
    Case("data-size", "an image size too small", P + "ingest --set data.size=4", "ingest",
         stage_args("--set", "data.size=4"), "data.size: expected an integer >= 8, got 4"),
    Case("fraction-type", "a split fraction that is not a number", P + "split --set split.fractions.train=abc",
         "split", stage_args("--set", "split.fractions.train=abc"), "split.fractions.train: expected a number"),
    Case("register-type", "a registration parameter of the wrong type", P + "register --set register.iterations=abc",
         "register", stage_args("--set", "register.iterations=abc"), "register.iterations: expected an integer"),
    Case("evaluate-batch", "evaluation batch size 0", P + "evaluate --set evaluate.batch_size=0", "evaluate",
         stage_args("--set", "evaluate.batch_size=0"), "evaluate.batch_size must be >= 1"),
    Case("section-not-mapping", "a section that is a value", P + "train  (params.yaml says train: 5)", "train",
         stage_args(params_text="train: 5\n"), "train: expected a section (a mapping of keys), got 5"),
    Case("empty-params", "an empty params.yaml", P + "ingest  (params.yaml is empty)", "ingest",
         stage_args(params_text=""), "params.yaml: the file is empty"),
    Case("invalid-yaml", "params.yaml that is not YAML", P + "ingest  (params.yaml holds: train: [)", "ingest",
         stage_args(params_text="train: [\n"), "params.yaml: not valid YAML"),
    Case("params-list", "params.yaml whose top level is a list", P + "ingest  (params.yaml holds a list)", "ingest",
         stage_args(params_text="- a\n"), "params.yaml: the top level must be a mapping of sections, got list"),
    Case("params-missing", "a params file that does not exist", P + "ingest --params nope.yaml", "ingest",
         stage_args("--params", "nope.yaml"), "nope.yaml: params file not found"),
    Case("set-no-value", "--set without a value", P + "ingest --set data.size", "ingest",
         stage_args("--set", "data.size"), "--set 'data.size': expected key=value"),
    Case("unknown-flag", "an unknown flag", P + "ingest --bogus", "ingest", stage_args("--bogus"),
         "unrecognized arguments: --bogus"),
    # stage inputs
    Case("empty-source", "an empty source folder", P + "ingest --set data.source.kind=aanlib --set "
         "data.source.path=DIR", "ingest", ingest_from("aanlib", empty_folder),
         "no pairs: nothing to read"),
    Case("missing-source", "a source folder that does not exist", P + "ingest --set data.source.kind=nifti "
         "--set data.source.path=/no/such", "ingest",
         stage_args("--set", "data.source.kind=nifti", "--set", "data.source.path=/no/such"),
         "/no/such: NIfTI folder not found"),
    Case("all-quarantined", "a source where nothing can be used", P + "ingest ... (only a .txt file)", "ingest",
         ingest_from("aanlib", only_junk), "no pairs: 1 input(s), all quarantined; first reason:"),
    Case("register-missing", "no ingested table", P + "register", "register", stage_args(),
         "data/ingested/pairs.parquet: pair table not found"),
    Case("register-empty", "an ingested table with no rows", P + "register", "register", table_file(None),
         "the pair table has no rows; nothing to register"),
    Case("register-garbage", "an ingested table that is not Parquet", P + "register", "register",
         table_file("not parquet"), "data/ingested/pairs.parquet: not a readable pair table"),
    Case("split-missing", "no validated table", P + "split", "split", stage_args(),
         "data/validated/pairs.parquet: pair table not found"),
    Case("validate-missing", "no registered table", P + "validate", "validate", stage_args(),
         "data/registered/pairs.parquet: table not found"),
    Case("evaluate-empty-split", "an empty test split", P + "evaluate", "evaluate",
         table_file(None, "data/splits/test.parquet", "--set", "evaluate.model=null"),
         "the test split has no rows"),
    Case("evaluate-corrupt-model", "a damaged checkpoint", P + "evaluate --set evaluate.model=model.pt",
         "evaluate", with_splits("--set", "evaluate.model={damaged}"), "damaged.pt: not a readable checkpoint"),
    Case("evaluate-baseline", "an unknown baseline", P + "evaluate --set 'evaluate.baselines=[nope]'", "evaluate",
         with_splits("--set", "evaluate.model=null", "--set", "evaluate.baselines=[nope]"),
         "unknown baseline 'nope'"),
    # medfuse commands
    Case("fuse-truncated-nifti", "a truncated .nii.gz", "medfuse fuse --model M --a t1.nii.gz --b ct.nii.gz "
         "-o f.nii.gz", "medfuse", cli("fuse", "--allow-plugin", "toy_fusion", "--model", "{ckpt}", "--a",
                                      "{work}/t1.nii.gz", "--b", "{work}/ct.nii.gz", "-o", "{work}/f.nii.gz",
                                      prepare=truncated_nifti), "t1.nii.gz: not a readable NIfTI volume"),
    Case("fuse-out-under-file", "-o inside a path that is a file", "medfuse fuse ... -o FILE/fused.png", "medfuse",
         cli("fuse", "--model", "{ckpt}", "--a", "{a}", "--b", "{b}", "-o", "{work}/file/fused.png",
             prepare=a_file("file")), "file is a file, not a folder"),
    Case("fuse-out-dir-file", "--out-dir that is a file", "medfuse fuse ... --out-dir FILE", "medfuse",
         cli("fuse", "--model", "{ckpt}", "--a-dir", "{pngs}/a", "--b-dir", "{pngs}/b", "--out-dir",
             "{work}/file", prepare=a_file("file")), "file: it is a file, not a folder"),
    Case("fuse-out-suffix", "an image output that is not .png", "medfuse fuse ... -o fused.jpg", "medfuse",
         cli("fuse", "--model", "{ckpt}", "--a", "{a}", "--b", "{b}", "-o", "{work}/fused.jpg"),
         "image output must be .png"),
    Case("fuse-corrupt-checkpoint", "a damaged checkpoint", "medfuse fuse --model model.pt ...", "medfuse",
         cli("fuse", "--model", "{damaged}", "--a", "{a}", "--b", "{b}", "-o", "{work}/f.png"),
         "damaged.pt: not a readable checkpoint"),
    Case("fuse-http-model", "a model URL", "medfuse fuse --model http://host/model ...", "medfuse",
         cli("fuse", "--model", "http://example.invalid/model", "--a", "{a}", "--b", "{b}", "-o", "{work}/f.png"),
         "not from http://"),
    Case("fuse-plugin", "a model that imports a module nobody allowed", "medfuse fuse --model model.pt ...",
         "medfuse", cli("fuse", "--model", "{work}/model.pt", "--a", "{a}", "--b", "{b}", "-o", "{work}/f.png",
                        prepare=plugin_model), "plugin module(s) ['some_module'], which are not allowed"),
    Case("fuse-colour-a", "a colour image as the MRI", "medfuse fuse --model M --a pet.png --b pet.png ...",
         "medfuse", cli("fuse", "--allow-plugin", "toy_fusion", "--model", "{ckpt}", "--a", "{colour}", "--b",
                        "{colour}", "-o", "{work}/f.png"), "A (the MRI) must be grey"),
    Case("fuse-wrong-factor", "a B at 1/2 of A for a model trained with B at A's size",
         "medfuse fuse --model M --a mri_32.png --b pet_16.png ...", "medfuse",
         cli("fuse", "--allow-plugin", "toy_fusion", "--model", "{ckpt}", "--a", "{a}", "--b", "{work}/b_half.png",
             "-o", "{work}/f.png", prepare=half_size_b),
         "B is 16x16, 1/2 of A's 32x32, but this model was trained for B at A's size (b_scale 1)"),
    Case("train-b-scale-mismatch", "train.overrides.b_scale unlike the data's r", P + "train --set "
         "train.overrides.b_scale=2 (pairs with B at 1/4)", "train",
         multires_splits("--set", "train.overrides.b_scale=2"),
         "train.overrides.b_scale is 2 but the MRI_PET pairs in"),
    Case("fuse-missing-a", "an input file that does not exist", "medfuse fuse ... --a none.png", "medfuse",
         cli("fuse", "--model", "{ckpt}", "--a", "{work}/none.png", "--b", "{b}", "-o", "{work}/f.png"),
         "none.png: file not found"),
    Case("score-batch-zero", "--batch 0", "medfuse score --batch 0 ...", "medfuse",
         cli("score", "--fused", "{pngs}/a", "--a", "{pngs}/a", "--b", "{pngs}/b", "--batch", "0"),
         "argument --batch: must be >= 1, got 0"),
    Case("score-csv-under-file", "--csv inside a path that is a file", "medfuse score ... --csv FILE/x.csv",
         "medfuse", cli("score", "--fused", "{pngs}/a", "--a", "{pngs}/a", "--b", "{pngs}/b", "--csv",
                        "{work}/file/x.csv", prepare=a_file("file")), "file is a file, not a folder"),
    Case("score-missing-folder", "a folder that does not exist", "medfuse score --fused none ...", "medfuse",
         cli("score", "--fused", "{work}/none", "--a", "{pngs}/a", "--b", "{pngs}/b"), "none: folder not found"),
    Case("baseline-unknown", "an unknown baseline", "medfuse baseline --method nope ...", "medfuse",
         cli("baseline", "--method", "nope", "--a-dir", "{pngs}/a", "--b-dir", "{pngs}/b", "--out-dir",
             "{work}/o"), "unknown baseline 'nope'"),
    Case("baseline-colour-a", "a colour image as the MRI", "medfuse baseline --a-dir PET/ --b-dir PET/ ...",
         "medfuse", cli("baseline", "--method", "mean", "--a-dir", "{pngs}/colour", "--b-dir", "{pngs}/colour",
                        "--out-dir", "{work}/o"), "A (the MRI) must be grey"),
    Case("phantom-cases-zero", "--cases 0", "medfuse phantom --out DIR --cases 0", "medfuse",
         cli("phantom", "--out", "{work}/ph", "--cases", "0"), "argument --cases: must be >= 1, got 0"),
    Case("phantom-b-scale-zero", "--b-scale 0", "medfuse phantom --out DIR --b-scale 0", "medfuse",
         cli("phantom", "--out", "{work}/ph", "--b-scale", "0"), "argument --b-scale: must be >= 1, got 0"),
    Case("phantom-not-empty", "an output folder that is not empty", "medfuse phantom --out FULL", "medfuse",
         cli("phantom", "--out", "{work}/out", "--cases", "1", prepare=full_folder), "or pass --overwrite"),
    Case("unknown-command", "an unknown command", "medfuse fusee", "medfuse", cli("fusee"), "invalid choice: 'fusee'"),
    # used as far as possible: the rest goes on, the bad part is quarantined with the reason
    Case("dicom-lost-slice", "a DICOM series missing an interior slice (no pixel data)", P + "ingest (dicom)",
         "ingest", ingest_from("dicom", copy_of("dicom", drop_dicom_pixels)), "needs a slice that is not there",
         exit_code=0, where="quarantine"),
    Case("dicom-truncated", "a 600-byte .dcm", P + "ingest (dicom)", "ingest",
         ingest_from("dicom", copy_of("dicom", truncate_dicom)), "(600 bytes) is a DICOM file without "
         "SeriesInstanceUID and without pixel data", exit_code=0, where="quarantine"),
    Case("nifti-voxel-size-0", "a NIfTI with voxel size 0 and no sform", P + "ingest (nifti)", "ingest",
         ingest_from("nifti", copy_of("nifti", zero_voxel_size)), "has voxel size (pixdim) [0.0", exit_code=0,
         where="quarantine"),
    Case("dangling-symlink", "a dangling symlink in MRI/", P + "ingest (aanlib)", "ingest",
         ingest_from("aanlib", copy_of("aanlib", dangling_mri)), "is a symbolic link to /nonexistent/ph01001.png, "
         "which does not exist", exit_code=0, where="quarantine"),
    Case("multires-size", "a PET at 1/4 of its MRI with data.size not a multiple of 4", P + "ingest (aanlib) "
         "--set data.size=30", "ingest", ingest_from("aanlib", copy_of("aanlib", quarter_pet_pair), size=30),
         "data.size 30 is not a multiple of 4", exit_code=0, where="quarantine"),
    Case("colour-mri-ingest", "a colour image in the MRI folder", P + "ingest (aanlib)", "ingest",
         ingest_from("aanlib", copy_of("aanlib", colour_mri)), "A (the MRI) must be grey", exit_code=0,
         where="quarantine"),
    # the other entry points: the retraining job, the quality recipe
    Case("retrain-unknown-section", "a misspelt section given to the retraining job",
         "python -m pipelines.retrain --set trian.steps=10", "pipelines.retrain", stage_args("--set", "trian.steps=10"),
         "unknown section 'trian' (did you mean 'train'?)"),
    Case("retrain-phantom", "a retraining job on the built-in phantom", "python -m pipelines.retrain",
         "pipelines.retrain", stage_args(), "data.source.kind: phantom: a retraining job trains on the versioned data"),
    Case("retrain-unknown-flag", "an unknown flag of the retraining job", "python -m pipelines.retrain --bogus",
         "pipelines.retrain", stage_args("--bogus"), "unrecognized arguments: --bogus"),
    Case("quality-no-data", "a quality run on a folder that does not exist", "make quality DATA=/no/such",
         "pipelines.quality", stage_args("--data", "/no/such"), "/no/such: DATA must be an AANLIB-style folder"),
    Case("quality-no-tasks", "a quality run on a folder without task folders", "make quality DATA=DIR  (empty)",
         "pipelines.quality", stage_args("--data", "."), "no MRI_CT, MRI_PET or MRI_SPECT folder inside"),
    Case("low-nmi-row", "1 of 24 pairs registered below validate.min_nmi_after", P + "validate", "validate",
         low_nmi_row, "registered NMI(A, B) >= validate.min_nmi_after (1.02)", exit_code=0, where="validated",
         slow=True),
]


# ---- the doc page ---------------------------------------------------------------------------------------------

def _code(text: str) -> str:
    """A table cell's code span (a backtick inside would end it)."""
    if "`" in text:
        raise ValueError(f"no backticks in table cells: {text!r}")
    return "`" + text.replace("|", "\\|") + "`"


def render() -> str:
    where = {"stderr": "stderr: {}", "quarantine": "quarantine row: {}",
             "validated": "data/validated/quarantine.parquet: {}"}
    lines = ["| # | input | command | exit | what medfuse says (fragment) |", "|---|---|---|---|---|"]
    for i, c in enumerate(CASES, 1):
        lines.append(f"| {i} | {c.what.replace('|', '/')} | {_code(c.shown)} | {c.exit_code} | "
                     f"{where[c.where].format(_code(c.fragment))} |")
    return "\n".join(lines)


def doc_table(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def write_doc() -> None:
    text = DOC.read_text()
    DOC.write_text(text.split(START, 1)[0] + START + "\n" + render() + "\n" + END + text.split(END, 1)[1])


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_doc()
        print(f"wrote {len(CASES)} cases to {DOC}")
    else:
        print(render())
