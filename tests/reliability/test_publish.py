"""pipelines.publish: a stage's outputs appear together or not at all.

The crash test kills a forked publisher (``os._exit``, no cleanup: what SIGKILL leaves) right before each of its
renames in turn, then runs :func:`recover` the way the next stage does, and checks that the outputs are exactly
the old set or exactly the new one, every time.
"""
from __future__ import annotations

import json
import os

import pytest

from pipelines import publish

OUTS = ("out/table.bin", "reports/summary.json", "reports/docs")


def _write_set(staged_or_root, tag: str, resolve=None) -> None:
    path = resolve or (lambda rel: staged_or_root / rel)
    path(OUTS[0]).parent.mkdir(parents=True, exist_ok=True)
    path(OUTS[0]).write_bytes(tag.encode() * 1000)
    path(OUTS[1]).parent.mkdir(parents=True, exist_ok=True)
    path(OUTS[1]).write_text(json.dumps({"run": tag}))
    docs = path(OUTS[2])
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "index.html").write_text(f"<p>{tag}</p>")
    (docs / tag).write_text(tag)                     # a file only this set has


def _publish(tag: str) -> None:
    with publish.staged("demo", *OUTS) as staged:
        _write_set(None, tag, resolve=lambda rel: staged[rel])


def _which_set(root) -> str:
    """'old', 'new', or a description of the mix found."""
    tags = {(root / OUTS[0]).read_bytes()[:3].decode(), json.loads((root / OUTS[1]).read_text())["run"],
            (root / OUTS[2] / "index.html").read_text()[3:6]}
    extra = sorted(p.name for p in (root / OUTS[2]).iterdir() if p.name != "index.html")
    if len(tags) == 1 and extra == sorted(tags):
        return tags.pop()
    return f"mixed: {tags} {extra}"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _publish("old")
    return tmp_path


def test_commit_replaces_files_and_folders_and_writes_a_manifest(project):
    assert _which_set(project) == "old"
    _publish("new")
    assert _which_set(project) == "new"
    manifest = publish.verify("demo")
    assert set(manifest["outputs"]) == set(OUTS)
    assert not list((project / publish.STAGING).iterdir()) and not list((project / publish.JOURNALS).iterdir())


def test_an_exception_inside_the_block_keeps_the_old_set(project):
    with pytest.raises(RuntimeError):
        with publish.staged("demo", *OUTS) as staged:
            staged[OUTS[0]].write_bytes(b"new" * 10)
            raise RuntimeError("the stage failed half way")
    assert _which_set(project) == "old"
    publish.verify("demo")
    assert not list((project / publish.STAGING).iterdir())


def test_an_output_the_new_run_does_not_write_is_removed(project):
    with publish.staged("demo", *OUTS) as staged:
        staged[OUTS[1]].write_text(json.dumps({"run": "new"}))
    assert not (project / OUTS[0]).exists() and not (project / OUTS[2]).exists()
    assert set(publish.verify("demo")["outputs"]) == {OUTS[1]}


def test_verify_catches_a_mixed_set(project):
    (project / OUTS[1]).write_text(json.dumps({"run": "new"}))
    with pytest.raises(ValueError, match="reports/summary.json: differs from the last publish"):
        publish.verify("demo")


def _renames_in_a_publish(project) -> int:
    calls = []
    real = os.replace

    def counting(*args, **kw):
        calls.append(args)
        return real(*args, **kw)
    os.replace = counting
    try:
        _publish("mid")
        _publish("old")
    finally:
        os.replace = real
    return len(calls) // 2


def test_killed_before_any_rename_leaves_old_or_new_after_recovery(project):
    n = _renames_in_a_publish(project)
    assert n >= 5                      # staged manifest, journal, 3 outputs (+1 for the folder), manifest
    seen = set()
    for k in range(n + 1):
        pid = os.fork()
        if pid == 0:                   # child: die (no cleanup, like SIGKILL) right before rename number k
            count = [0]
            real = os.replace

            def dying(*args, **kw):
                if count[0] == k:
                    os._exit(9)
                count[0] += 1
                return real(*args, **kw)
            os.replace = dying
            try:
                _publish("new")
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == (9 if k < n else 0)
        publish.recover()              # what the next stage does first
        state = _which_set(project)
        assert state in ("old", "new"), (k, state)
        assert publish.verify("demo")["outputs"]
        seen.add(state)
        _publish("old")                # reset for the next kill point
    assert seen == {"old", "new"}      # kills before the journal keep the old set, after it give the new one


def test_debris_of_dead_attempts_and_stale_temporaries_are_removed(project):
    dead = project / publish.STAGING / "demo.999999999"
    dead.mkdir(parents=True)
    (dead / "junk").write_text("x")
    tmp = project / (OUTS[0] + ".tmp")
    tmp.write_text("half-written")
    alive = project / publish.STAGING / f"demo.{os.getppid()}"     # another live process's staging: kept
    alive.mkdir()
    _publish("new")
    assert not dead.exists() and not tmp.exists() and alive.exists()


def test_outputs_outside_the_working_directory_keep_their_state_beside_them(tmp_path, monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    with publish.staged("demo", elsewhere / "a.txt", elsewhere / "sub" / "b.txt") as staged:
        staged[elsewhere / "a.txt"].write_text("a")
        staged[elsewhere / "sub" / "b.txt"].write_text("b")
    assert (elsewhere / "a.txt").read_text() == "a" and (elsewhere / "sub" / "b.txt").read_text() == "b"
    assert not (work / publish.STATE).exists()
    assert publish.verify("demo", root=elsewhere)["outputs"].keys() == {"a.txt", "sub/b.txt"}
