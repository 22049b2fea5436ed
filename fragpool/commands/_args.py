"""Argument types the subcommands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def add_debug(parser: argparse.ArgumentParser) -> None:
    """``--debug``: debug mode for every allocator of the run (FRAGPOOL_DEBUG=1)."""
    parser.add_argument(
        "--debug",
        action="store_true",
        help="debug mode (FRAGPOOL_DEBUG=1): catch use after free, overflows and double "
        "frees, and name the line that allocated anything left in flight",
    )


def positive(what: str) -> Callable[[str], int]:
    """An argparse type: a whole number >= 1, refused with a message naming ``what``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be a whole number, not {text!r}"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{what} must be >= 1, not {value}")
        return value

    return parse
