"""AANLIB layout: ``<root>/<TASK>/<MODALITY>/<name>.<ext>``; a pair is the two files with the same ``<name>``
in a task's two modality folders (the Harvard Whole Brain Atlas collections, and ``medfuse phantom
--format aanlib``).

Which folder is A: the task name ``<A>_<B>`` names both folders (``MRI_CT`` -> ``MRI`` and ``CT``, case
insensitive); otherwise, when the task folder holds exactly two folders, the MR one (MRI, MR, T1, T2, PD,
FLAIR) is A; otherwise the one named folder that exists is used and its partner folder reported missing.  Images are
display images already: grey value / 255 (no renormalisation); pseudo-colour B is split into luma + chroma.
A B that is smaller than A by one integer factor r on both axes (a 64x64 PET beside a 256x256 MRI) is kept at
its native resolution, r recorded in ``b_scale`` (:mod:`pipelines.imaging.multires`); any other size mismatch is
quarantined with both sizes.

Accounted inputs: every pair name of a task, plus every file that cannot take part in a pair (unsupported
type, outside a modality folder, in a folder that is not the task's).  Files at the root (README, manifest,
truth.json) are metadata and are not read; hidden files (``.name``) are skipped.  Both are listed in the
result's notes.
"""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from pipelines.readers import READERS, ReaderOptions
from pipelines.imaging.color import COLOUR_A
from pipelines.imaging.multires import check_size_multiple, mismatch_sentence, scale_factor
from pipelines.readers.common import (ReadResult, broken_link, build_row, image_problem, listed_files,
                                      parse_case_slice, quarantine_row, sha256_file)
from pipelines.readers.images2d import SUPPORTED_EXTENSIONS, ImageDecodeError, load_image
from pipelines.readers.tasks import A_FOLDER, MR_CONTRASTS
from pipelines.readers.truth import load_truth


def _ext(path: Path) -> str:
    return path.suffix.lower()


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _assign_folders(task: str, folders: dict[str, Path]) -> tuple[Path | None, Path | None, str | None]:
    """(A folder, B folder, problem sentence).  ``folders`` maps upper-case name -> path."""
    named = tuple(p.upper() for p in task.split("_", 1)) if "_" in task else None
    if named and named[0] in folders and named[1] in folders:
        return folders[named[0]], folders[named[1]], None
    if len(folders) == 2:
        mr = [n for n in folders if n in MR_CONTRASTS]
        if len(mr) == 1:
            other = next(n for n in folders if n != mr[0])
            return folders[mr[0]], folders[other], None
    if named and (named[0] in folders or named[1] in folders):
        return folders.get(named[0]), folders.get(named[1]), None        # one folder missing
    names = sorted(folders)
    return None, None, (f"cannot tell which modality folder of task {task} is A: found {names}; name the task "
                        f"<A>_<B> after its two folders (e.g. MRI_CT with folders MRI and CT)")


def _read_task(root: Path, task_dir: Path, options: ReaderOptions, result: ReadResult, truth) -> None:
    task = task_dir.name
    folders = {p.name.upper(): p for p in sorted(task_dir.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    for f in listed_files(task_dir, recursive=False):
        if not f.name.startswith("."):
            result.inputs += 1
            result.quarantine.append(quarantine_row(
                f"{f} lies directly in task folder {task}; put it in one of its modality folders "
                f"({', '.join(sorted(folders)) or 'none yet'})", source_a=f, task=task))
    a_dir, b_dir, problem = _assign_folders(task, folders)
    used = {d for d in (a_dir, b_dir) if d is not None}
    for name, d in folders.items():
        if d in used:
            continue
        for f in (p for p in listed_files(d) if not _hidden(p, root)):
            result.inputs += 1
            reason = problem if problem else (f"{f} is in folder {d.name}, which is not one of task {task}'s modality "
                                              f"folders ({', '.join(x.name for x in sorted(used))})")
            result.quarantine.append(quarantine_row(f"{f}: {reason}" if problem else reason, source_a=f, task=task))
    if problem:
        return

    def collect(d: Path | None) -> dict[str, Path]:
        stems: dict[str, Path] = {}
        if d is None:
            return stems
        for f in listed_files(d):
            if _hidden(f, root):
                result.notes.append(f"skipped hidden file {f}")
                continue
            if f.parent != d:
                result.inputs += 1
                result.quarantine.append(quarantine_row(
                    f"{f} is in a sub-folder of {d}; the AANLIB layout is flat (<TASK>/<MODALITY>/<name>)",
                    source_a=f, task=task))
            elif _ext(f) not in SUPPORTED_EXTENSIONS:
                result.inputs += 1
                result.quarantine.append(quarantine_row(
                    f"{f} has unsupported type {f.suffix or '(no extension)'}; supported: "
                    f"{', '.join(SUPPORTED_EXTENSIONS)}", source_a=f, task=task))
            elif f.stem in stems:
                result.inputs += 1
                result.quarantine.append(quarantine_row(
                    f"{f} has the same name as {stems[f.stem]}; keep one file per name in a folder",
                    source_a=f, task=task))
            else:
                stems[f.stem] = f
        return stems

    a_files, b_files = collect(a_dir), collect(b_dir)
    a_label = a_dir.name if a_dir else task.split("_", 1)[0]
    b_label = b_dir.name if b_dir else task.split("_", 1)[-1]
    spacing = truth.pixel_spacing if truth else None
    off_rule = 0
    names = sorted(set(a_files) | set(b_files))
    for stem in tqdm(names, desc=f"ingest {task}", unit="pair", disable=not options.progress, leave=False):
        result.inputs += 1
        fa, fb = a_files.get(stem), b_files.get(stem)
        case_id, slice_index, ok = parse_case_slice(stem)
        off_rule += not ok
        if fa is None or fb is None:
            have = fb if fa is None else fa
            side_dir, side_label = (a_dir, a_label) if fa is None else (b_dir, b_label)
            where = (f"folder {task}/{side_label} is missing" if side_dir is None
                     else f"{side_dir} has no file named {stem}.*")
            result.quarantine.append(quarantine_row(f"{have} has no partner: {where}",
                                                    source_a=fa, source_b=fb, task=task, case_id=case_id))
            continue
        link = broken_link(fa) or broken_link(fb)
        if link:
            result.quarantine.append(quarantine_row(link, fa, fb, task, case_id))
            continue
        try:
            a, info_a = load_image(fa)
            b, info_b = load_image(fb)
        except ImageDecodeError as exc:
            result.quarantine.append(quarantine_row(str(exc), fa, fb, task, case_id))
            continue
        if a.cb is not None:
            result.quarantine.append(quarantine_row(f"{fa} {COLOUR_A}", fa, fb, task, case_id))
            continue
        b_scale = scale_factor(a.shape, b.shape)
        size_problem = (mismatch_sentence(str(fa), a.shape, str(fb), b.shape) if b_scale is None
                        else check_size_multiple(options.size, b_scale, f"{fb}"))
        if size_problem:
            result.quarantine.append(quarantine_row(size_problem, fa, fb, task, case_id))
            continue
        problem = image_problem(a.y, str(fa)) or image_problem(b.y, str(fb))
        if problem:
            result.quarantine.append(quarantine_row(problem, fa, fb, task, case_id))
            continue
        meta = {"format": "aanlib", "name": stem}
        if info_a["frames"] > 1 or info_b["frames"] > 1:
            meta["frames_in_file"] = [info_a["frames"], info_b["frames"]]
        rigid = None
        if truth is not None:
            meta.update(truth.meta(case_id, task, slice_index))
            rigid = truth.misalignment(case_id)
        result.rows.append(build_row(task, case_id, slice_index, A_FOLDER, b_label.upper(), a, b, spacing,
                                     options.size, str(fa), str(fb), sha256_file(fa), sha256_file(fb), meta,
                                     rigid, b_scale))
    if off_rule:
        result.notes.append(f"{task}: {off_rule} name(s) do not follow <case><3-digit slice>; each is its own case")


@READERS.register("aanlib")
def read_aanlib(root: Path, options: ReaderOptions) -> ReadResult:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: AANLIB folder not found (data.source.path)")
    truth = load_truth(root)
    result = ReadResult()
    for f in listed_files(root, recursive=False):
        if not f.name.startswith("."):
            if _ext(f) in SUPPORTED_EXTENSIONS:
                result.inputs += 1
                result.quarantine.append(quarantine_row(
                    f"{f} lies at the top of the data folder; images belong in <TASK>/<MODALITY>/", source_a=f))
            else:
                result.notes.append(f"not read (metadata at the root): {f.name}")
    task_dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    if not task_dirs:
        result.notes.append(f"{root} has no task folders (<TASK>/<MODALITY>/<name>.png)")
    for d in task_dirs:
        _read_task(root, d, options, result, truth)
    result.dedupe()
    return result

