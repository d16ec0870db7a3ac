"""The error contract of every stage and every ``medfuse`` command: bad input (a file, a path, a parameter)
ends the process with exit code 2 and **one line** on stderr, ``<prog>: error: <message>``, where the message
names the file or key and the problem; never a traceback.

One mechanism for all of them:

* :func:`stage_entry` decorates a stage's ``main(argv)``: telemetry off, interrupted output publishes finished
  (:func:`pipelines.publish.recover`), then the errors of :data:`BAD_INPUT` mapped to exit 2;
* :func:`command_entry` does the same for the project's other entry points (``python -m pipelines.retrain``,
  ``pipelines.quality``, ``pipelines.demo``), which are not stages and publish nothing;
* :func:`run_guarded` does the mapping for one call (the ``medfuse`` CLI wraps each command's ``run`` with it);
* :class:`OneLineArgumentParser` makes argparse's own errors (unknown flag, bad value for ``type=``) one line.

Errors outside :data:`BAD_INPUT` (``RuntimeError``, ``TypeError``, ``AssertionError``...) are bugs or broken
environments and keep their traceback.  ``MEDFUSE_TRACEBACK=1`` shows the traceback of a bad-input error too.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import Callable, NoReturn


class InputError(ValueError):
    """Bad input that medfuse itself found; the message names the file or key and the problem."""


#: errors that mean bad input: the message is shown as one line and the exit code is 2.  ``ParamsError`` and
#: ``CliError`` are ``ValueError`` subclasses; unknown registry names raise ``KeyError``; OSErrors about paths
#: (missing file, a folder where a file is expected, an output path under a file, no permission) name the path.
BAD_INPUT: tuple[type[BaseException], ...] = (ValueError, KeyError, FileNotFoundError, FileExistsError,
                                              NotADirectoryError, IsADirectoryError, PermissionError)
EXIT_BAD_INPUT = 2


def one_line(exc: BaseException) -> str:
    """The error's message on one line (an OSError as ``<path>: <reason>``)."""
    if isinstance(exc, KeyError) and exc.args:
        msg = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        msg = f"{exc.filename}: {exc.strerror}" + (f" ({exc.filename2})" if exc.filename2 else "")
    else:
        msg = str(exc)
    return " ".join(msg.split()) or type(exc).__name__


def report(prog: str, exc: BaseException) -> int:
    print(f"{prog}: error: {one_line(exc)}", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def run_guarded(prog: str, fn: Callable[..., int | None], *args, **kwargs) -> int:
    """``fn(*args, **kwargs)`` with bad input turned into one line on stderr and exit code 2."""
    try:
        return int(fn(*args, **kwargs) or 0)
    except BAD_INPUT as exc:
        if os.environ.get("MEDFUSE_TRACEBACK"):
            raise
        return report(prog, exc)


def stage_entry(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorator for a stage's ``main(argv=None) -> int`` (see the module docstring)."""
    def deco(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapped(argv: list[str] | None = None) -> int:
            from pipelines.env import quiet_telemetry
            from pipelines.publish import recover
            quiet_telemetry()

            def body() -> int:
                recover()
                return main(argv)
            return run_guarded(prog, body)
        wrapped.error_contract = prog          # type: ignore[attr-defined]  (checked by tests/reliability)
        return wrapped
    return deco


def command_entry(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorator for a non-stage entry point's ``main(argv=None) -> int``: telemetry off, bad input as one line
    and exit code 2 (no publish recovery: these commands write no stage outputs themselves)."""
    def deco(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapped(argv: list[str] | None = None) -> int:
            from pipelines.env import quiet_telemetry
            quiet_telemetry()
            return run_guarded(prog, main, argv)
        wrapped.error_contract = prog          # type: ignore[attr-defined]  (checked by tests/reliability)
        return wrapped
    return deco


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, ``<prog>: error: <message> (see --help)``, exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {' '.join(message.split())} (see --help)", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_BAD_INPUT)


def positive_int(text: str) -> int:
    """argparse ``type=`` for counts that must be >= 1 (the parser's error names the flag)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _nothing_in_the_way(folder: Path, shown: Path, flag: str) -> None:
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                raise InputError(f"{flag} {shown}: {'it' if p == shown else p} is a file, not a folder")
            return


def writable_dir(path: str | Path, flag: str) -> Path:
    """``path`` if a folder can be used or created there (nothing on the way is a file), else an
    :class:`InputError` naming the flag: checked before the work, not found after it."""
    path = Path(path)
    _nothing_in_the_way(path, path, flag)
    return path


def writable_file(path: str | Path, flag: str) -> Path:
    """``path`` if a file can be written there (no folder on the way is a file, and it is not a folder)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a folder; give a file name")
    _nothing_in_the_way(path.parent, path, flag)
    return path
