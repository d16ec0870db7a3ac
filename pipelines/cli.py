"""The ``medfuse`` console script.  Sub-commands are modules in ``pipelines/commands/``: each defines
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; adding a command never touches this file.

Bad input raises :class:`CliError` (or ``FileNotFoundError``/``ValueError`` naming the file); the CLI then
prints one line ``medfuse <cmd>: error: <message>`` and exits with code 2, never a traceback (the project-wide
contract of :mod:`pipelines.errors`, also for argparse's own errors).
"""
from __future__ import annotations

import importlib
import pkgutil
import sys

from pipelines import commands
from pipelines.errors import InputError, OneLineArgumentParser, run_guarded


class CliError(InputError):
    """Bad input: the message names the file and the problem."""


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"pipelines.commands.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            yield mod


def build_parser() -> tuple[OneLineArgumentParser, dict]:
    parser = OneLineArgumentParser(prog="medfuse", description="GAN-based multimodal medical image fusion")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    mods = {}
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        mods[mod.NAME] = mod
    return parser, mods


def main(argv: list[str] | None = None) -> int:
    from pipelines.env import quiet_telemetry
    quiet_telemetry()
    parser, mods = build_parser()
    args = parser.parse_args(argv)
    return run_guarded(f"medfuse {args.command}", mods[args.command].run, args)


if __name__ == "__main__":
    sys.exit(main())
