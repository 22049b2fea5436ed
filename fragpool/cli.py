"""The `fragpool` command: each subcommand lives in its own module under fragpool.commands.

A command module defines ``register(subparsers)``, which adds its parser and sets
``func`` (taking the parsed arguments, returning the exit status) as a default.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__, commands


class Parser(argparse.ArgumentParser):
    """argparse's parser, its help as wide as the terminal without importing shutil (which
    argparse does for every argument it adds: shutil and the compressors it loads are a
    tenth of a short command's start-up). Subcommands' parsers are of this class too."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_columns() - 2)  # as argparse's


def _columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else standard output's terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="fragpool",
        description="Packet I/O into pooled page-fragment buffers, after the Linux kernel.",
    )
    import fragpool

    mode = "compiled" if fragpool.compiled else f"pure Python: {fragpool._why}"
    parser.add_argument("--version", action="version", version=f"fragpool {__version__} ({mode})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in command_modules():
        importlib.import_module(f"{commands.__name__}.{name}").register(sub)
    return parser


def command_modules() -> list[str]:
    """The command modules' names: fragpool/commands/*.py (or compiled) not starting with _
    (a directory listing: pkgutil.iter_modules imports inspect, a tenth of start-up)."""
    names = set()
    for folder in commands.__path__:
        for entry in os.listdir(folder):
            stem, dot, _ext = entry.partition(".")
            if dot and not stem.startswith("_") and entry.endswith((".py", ".so", ".pyd")):
                names.add(stem)
    return sorted(names)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the subcommand's parser, with its own usage, not the top level's
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "debug", False):  # before any allocator exists
        os.environ["FRAGPOOL_DEBUG"] = "1"
    from .mm.errors import DebugError

    try:
        return int(args.func(args) or 0)
    except DebugError as err:  # debug mode caught a fault: its report, not a traceback
        print(f"fragpool {args.command}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our standard output went away (`| head`, `| tcpdump -c 1`): stop
        # quietly, and point stdout at /dev/null so the interpreter's last flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
