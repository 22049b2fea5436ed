"""Counter snapshots that subtract, and the process memory figures fragpool reports."""

from __future__ import annotations

import os
from typing import Any


class Snapshot(dict):
    """A plain dict of counters; ``later - earlier`` gives what changed in between.

    Numbers subtract, nested snapshots subtract key by key, anything else (names, flags)
    keeps the later value.
    """

    def __sub__(self, earlier: dict) -> Snapshot:
        out = Snapshot()
        for key, value in self.items():
            before = earlier.get(key)
            if isinstance(value, bool) or before is None:
                out[key] = value
            elif isinstance(value, int | float) and isinstance(before, int | float):
                out[key] = value - before
            elif isinstance(value, dict) and isinstance(before, dict):
                out[key] = Snapshot(value) - before
            else:
                out[key] = value
        return out


def snapshot(**counters: Any) -> Snapshot:
    """Build a Snapshot from keyword counters."""
    return Snapshot(counters)


def rss_bytes() -> int:
    """Resident set size of this process now (psutil)."""
    import psutil  # here, not at import: a short command never pays for it

    return psutil.Process(os.getpid()).memory_info().rss


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (VmHWM; psutil's rss as a floor)."""
    try:
        with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss_bytes()
