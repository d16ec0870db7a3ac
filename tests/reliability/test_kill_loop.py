"""SIGKILL at random moments of each stage: afterwards (once the next stage's start-up recovery has run) the
stage's outputs are exactly one published set, the old one or the new one, and ``dvc repro`` recovers.

For each data stage and the evaluate stage (baselines only), one uninterrupted run gives the old set and the
stage's duration T; then the stage is started again with other parameters and killed with SIGKILL (the whole
process group) after a random delay in [0.3 T, 1.1 T] (the end of a run, where the outputs are written, gets
most kills).  After each kill ``pipelines.publish.recover`` runs (what every stage does first) and
``pipelines.publish.verify`` checks that every output on disk matches the stage's manifest, whose id must be the
one before the kill or a new one.  The deterministic counterpart, a kill right before each rename of the
commit, is in test_publish.py.  Train (in-process, MLflow + registry) and tune (Ray Tune) are killed fewer times
(their runs are longer); after every kill no process of the killed run (Ray's included) may survive.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipelines import publish

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
KILLS = 6


def _env() -> dict:
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "CI": "true",
            "DVC_NO_ANALYTICS": "1"}


def _stage_cmd(stage: str, *sets: str) -> list[str]:
    table = ["--table", "pairs"] if stage == "validate" else []
    return [sys.executable, "-m", f"pipelines.stages.{stage}", *table, *[a for s in sets for a in ("--set", s)]]


def _manifest_id(work: Path, name: str) -> str | None:
    path = work / publish.MANIFESTS / f"{name}.json"
    return json.loads(path.read_text())["id"] if path.exists() else None


MARK = "MEDFUSE_KILL_LOOP_RUN"          # environment variable every process of a killed run inherits (Ray's too)


def _marked_processes(mark: str) -> dict[int, str]:
    """pid -> command line of every live process started with ``MARK=mark`` in its environment."""
    needle = f"{MARK}={mark}".encode()
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                out[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return out


def _assert_nothing_left(mark: str, wait_s: float = 30.0) -> None:
    """No process of the killed run (Ray's GCS, raylet, trial workers ...) may outlive it by ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while (left := _marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"processes of the killed run survive: {[c[:120] for c in left.values()]}"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A working directory with a small AANLIB phantom source and the project's params (32 px)."""
    from pipelines.phantom.generate import PhantomParams, generate_formats
    work = tmp_path_factory.mktemp("killloop")
    generate_formats({"aanlib": work / "src"}, PhantomParams(cases=3, seed=1, slices=3, tasks=["MRI_CT", "MRI_PET"]),
                     progress=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"] = {"source": {"kind": "aanlib", "path": str(work / "src")}, "size": 32}
    params["ingest"]["progress"] = False
    params["register"]["workers"] = 1
    params["evaluate"].update(model=None, baselines=["mean", "max"], figure_rows=1)     # no model: baselines only
    params["train"].update(tasks=["MRI_CT"], preset="smoothmax_gan", loss=None, use_tuned=False, steps=6,
                           crop=None, val_every=3, checkpoint_every=3, log_every=3, sample_every=3, val_max_pairs=2)
    params["tune"].update(num_samples=2, steps=4, grace_steps=2, max_concurrent=1)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("ingest", "register", "validate", "split", "evaluate", "train", "tune"):
        res = subprocess.run(_stage_cmd(stage), cwd=work, env=_env(), capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
    return work


# (stage, manifest name, --set overrides of the "new" runs: they change the outputs, kills)
STAGES = [("ingest", "ingest", ["data.size=40"], KILLS),
          ("register", "register", ["register.iterations=50"], KILLS),
          ("validate", "validate-pairs", ["validate.min_std=0.02"], KILLS),
          ("split", "split", ["split.salt=killed"], KILLS),
          ("evaluate", "evaluate", ["evaluate.ssim_data_range=255"], 3),      # ~20 s a run on 2 cores
          ("train", "train", ["train.steps=9"], 3),                           # in process, MLflow registry
          ("tune", "tune", ["tune.seed=1"], 3)]                               # Ray Tune, 2 trials


@pytest.mark.slow
@pytest.mark.parametrize("stage, name, new, kills", STAGES, ids=[s[0] for s in STAGES])
def test_sigkill_leaves_the_old_or_the_new_set(project, stage, name, new, kills):
    work = project
    old_id = _manifest_id(work, name)
    assert old_id and publish.verify(name, root=work)
    t0 = time.perf_counter()
    res = subprocess.run(_stage_cmd(stage, *new), cwd=work, env=_env(), capture_output=True, text=True, timeout=600)
    duration = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr[-2000:]
    rng = random.Random(f"{stage}-kills")
    outcomes, seen = [], {old_id, _manifest_id(work, name)}
    for i in range(kills):
        before = _manifest_id(work, name)
        sets = new if i % 2 else []                     # alternate so that each run changes the outputs
        mark = f"{stage}-{i}-{os.getpid()}"
        proc = subprocess.Popen(_stage_cmd(stage, *sets), cwd=work, env={**_env(), MARK: mark},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.3, 1.1) * duration)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        _assert_nothing_left(mark)
        publish.recover(work)
        after = publish.verify(name, root=work)["id"]    # every output matches one published set ...
        if after != before:                               # ... the one before the kill, or this run's own
            assert after not in seen, "an older set came back"
            seen.add(after)
        outcomes.append("old" if after == before else "new")
        assert not list((work / publish.JOURNALS).glob("*.json")), "recovery left a journal"
    print(f"{stage}: T = {duration:.1f} s, after {kills} kills: {outcomes}")
    res = subprocess.run(_stage_cmd(stage), cwd=work, env=_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]           # and the stage runs cleanly afterwards
    publish.verify(name, root=work)
    assert not any((work / publish.STAGING).glob(f"{name}.*")), "staging debris left after a clean run"


@pytest.mark.slow
def test_dvc_repro_recovers_after_kills(tmp_path):
    """``dvc repro`` of the data stages, killed with SIGKILL at random moments three times, then run to the end:
    it succeeds, every stage's outputs match its manifest, and a further ``dvc repro`` has nothing to do."""
    dvc = str(VENV_BIN / "dvc")
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("pipelines", "data_contracts", "gan_models"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    if (ROOT / "datasets").is_dir():
        shutil.copytree(ROOT / "datasets", repo / "datasets")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["size"] = 32
    params["phantom"].update(cases=3, slices=3, tasks=["MRI_CT", "MRI_SPECT"], format="aanlib")
    params["ingest"]["progress"] = False
    params["register"]["workers"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**_env(), "PYTHONPATH": str(repo)}
    for cmd in (["git", "init", "-q"], [dvc, "init", "-q"], [dvc, "config", "core.analytics", "false"],
                [dvc, "config", "core.check_update", "false"]):
        subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True)
    target = ["validate_splits"]
    rng = random.Random("dvc-kills")
    for delay in (rng.uniform(4, 10), rng.uniform(8, 16), rng.uniform(12, 24)):
        proc = subprocess.Popen([dvc, "repro", *target], cwd=repo, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    res = subprocess.run([dvc, "repro", *target], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for name in ("ingest", "register", "validate-pairs", "split", "validate-splits"):
        publish.verify(name, root=repo)
    again = subprocess.run([dvc, "repro", *target], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout[-2000:]
