"""Argument types the subcommands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable


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
