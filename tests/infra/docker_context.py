"""Lay out a folder exactly as ``infra/docker/Dockerfile`` fills the image's WORKDIR: every ``COPY`` of the
build context (the repository root) minus what ``.dockerignore`` excludes.  ``RUN`` steps are not replayed:
whatever the job needs at run time must come from the copied files (``pipelines.retrain`` sets DVC's
``no_scm`` itself when there is no ``.git``)."""
from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path


def copy_instructions(dockerfile: Path) -> list[tuple[list[str], str]]:
    """``[(sources, destination), ...]`` of the Dockerfile's COPY lines (flags such as --chown dropped)."""
    out = []
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    for line in text.splitlines():
        parts = shlex.split(line.strip(), comments=True) if line.strip() else []
        if not parts or parts[0].upper() != "COPY":
            continue
        args = [a for a in parts[1:] if not a.startswith("--")]
        if len(args) < 2:
            raise ValueError(f"{dockerfile}: COPY needs a source and a destination: {line!r}")
        out.append((args[:-1], args[-1]))
    return out


def _match(pattern: str, path: str) -> bool:
    """Docker's .dockerignore match: ``*`` stays within a path segment, ``**`` spans segments."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            regex += ".*"
            i += 2
            if pattern.startswith("/", i):
                regex += "/?"
                i += 1
        else:
            c = pattern[i]
            regex += "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
            i += 1
    return re.fullmatch(regex, path) is not None


def ignore_patterns(context: Path) -> list[tuple[bool, str]]:
    f = context / ".dockerignore"
    if not f.exists():
        return []
    out = []
    for line in f.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        out.append((neg, line.lstrip("!").strip("/")))
    return out


def ignored(rel: str, patterns: list[tuple[bool, str]]) -> bool:
    """The last matching pattern decides; a pattern matching a parent folder covers what is inside it."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for neg, pat in patterns:
        if any(_match(pat, p) for p in prefixes):
            result = not neg
    return result


def build(context: Path, dockerfile: Path, dest: Path) -> list[str]:
    """Copy the COPY set of ``dockerfile`` from ``context`` into ``dest``; returns the copied paths (relative)."""
    patterns = ignore_patterns(context)
    copied = []
    for sources, target in copy_instructions(dockerfile):
        for src in sources:
            matches = sorted(context.glob(src)) if any(c in src for c in "*?[") else [context / src]
            if not matches and not any(c in src for c in "*?["):
                raise FileNotFoundError(f"{dockerfile}: COPY source {src!r} not in the build context {context}")
            for m in matches:
                files = [m] if m.is_file() else sorted(p for p in m.rglob("*") if p.is_file())
                for f in files:
                    rel = f.relative_to(context).as_posix()
                    if ignored(rel, patterns):
                        continue
                    inner = f.relative_to(m).as_posix() if m.is_dir() else f.name
                    out = dest / target / inner if (target.endswith("/") or m.is_dir() or len(matches) > 1
                                                    or len(sources) > 1) else dest / target
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, out)
                    copied.append(out.relative_to(dest).as_posix())
    return copied
