"""The image's content, read from the Dockerfile itself: exactly its COPY set minus .dockerignore."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import docker_context  # noqa: E402

ROOT = HERE.parents[1]
DOCKERFILE = ROOT / "infra/docker/Dockerfile"


def test_copy_instructions_are_read_from_the_dockerfile():
    copies = docker_context.copy_instructions(DOCKERFILE)
    sources = [s for srcs, _ in copies for s in srcs]
    assert {"pipelines", "gan_models", "data_contracts", "dvc.yaml", "params.yaml", ".dvc", "datasets",
            "dvc.lock*"} <= set(sources)
    assert ".git" not in sources


def test_dockerignore_semantics():
    pats = [(False, "data"), (False, "**/__pycache__"), (False, "datasets/*"), (True, "datasets/*.dvc"),
            (False, ".dvc/cache")]
    assert docker_context.ignored("data/x/y.parquet", pats)
    assert docker_context.ignored("pipelines/__pycache__/a.pyc", pats)
    assert docker_context.ignored("datasets/harvard/MRI_PET/MRI/1.png", pats)
    assert not docker_context.ignored("datasets/harvard.dvc", pats)
    assert docker_context.ignored(".dvc/cache/files/md5/ab/cd", pats)
    assert not docker_context.ignored(".dvc/config", pats)
    assert not docker_context.ignored("pipelines/retrain.py", pats)


def test_image_folder_has_the_pipeline_and_no_git_cache_or_data(tmp_path):
    ctx = tmp_path / "ctx"
    for name in ("pipelines/retrain.py", "dvc.yaml", "params.yaml", ".dvc/config", "datasets/README.md",
                 "pyproject.toml", "requirements.lock", "README.md", ".dvcignore", ".dockerignore",
                 "gan_models/__init__.py", "data_contracts/__init__.py"):
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_bytes((ROOT / name).read_bytes())
    for junk in (".git/HEAD", ".dvc/cache/files/md5/aa/bb", ".dvc/config.local", "data/splits/train.parquet",
                 "pipelines/__pycache__/x.pyc", "datasets/harvard/MRI_PET/MRI/1.png", "mlruns/mlflow.db"):
        (ctx / junk).parent.mkdir(parents=True, exist_ok=True)
        (ctx / junk).write_text("x")
    (ctx / "datasets/harvard.dvc").write_text("outs: []\n")
    out = tmp_path / "image"
    copied = set(docker_context.build(ctx, DOCKERFILE, out))
    assert {"pipelines/retrain.py", "dvc.yaml", "params.yaml", ".dvc/config", "datasets/README.md",
            "datasets/harvard.dvc", "gan_models/__init__.py", "data_contracts/__init__.py"} <= copied
    assert not any(c.startswith((".git", ".dvc/cache", "data/", "mlruns")) or "__pycache__" in c
                   or c == ".dvc/config.local" or c.startswith("datasets/harvard/") for c in copied), copied
    assert not (out / "dvc.lock").exists()            # optional: a fresh clone has none
