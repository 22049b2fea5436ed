"""Progress on a terminal, silence when piped: one status line redrawn in place on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """A status line that long commands update; a no-op unless the stream is a terminal.

    ``update(text)`` redraws at most every ``interval`` seconds; ``close()`` clears the line.
    """

    def __init__(
        self, stream: TextIO | None = None, interval: float = 0.2, enabled: bool | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval = interval
        self._next = 0.0
        self._width = 0

    def due(self) -> bool:
        """True when a redraw would show (cheap enough to call per batch of packets)."""
        return self.enabled and time.monotonic() >= self._next

    def update(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + self.interval
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
