"""Small helpers the benchmarks share: interleaved timing with medians, tables, verdicts."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence


def empty_loop(n: int) -> None:
    """The loop every timed body runs in, timed alone so its cost can be taken off."""
    for _ in range(n):
        pass


def interleaved_medians(
    bodies: dict[str, Callable[[int], object]], n: int, repeats: int
) -> dict[str, float]:
    """Median nanoseconds per iteration of each body, net of the empty loop.

    Each body is called as ``body(n)`` and must loop ``n`` times. The bodies run in turn
    within every repeat, so a slow phase of the machine hits all of them alike.
    """
    samples: dict[str, list[float]] = {name: [] for name in bodies}
    loop: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        empty_loop(n)
        loop.append((time.perf_counter_ns() - start) / n)
        for name, body in bodies.items():
            start = time.perf_counter_ns()
            body(n)
            samples[name].append((time.perf_counter_ns() - start) / n)
    overhead = statistics.median(loop)
    return {name: statistics.median(s) - overhead for name, s in samples.items()}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, right-aligned numbers, for terminals and Markdown code blocks."""
    cells = [[str(h) for h in headers]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for j, row in enumerate(cells):
        padded = (c.rjust(w) if j else c.ljust(w) for c, w in zip(row, widths, strict=True))
        lines.append("  ".join(padded))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(value: object) -> str:
    """Floats below 10 (ratios, per-fragment counts) get 4 decimals, larger ones 1."""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


class Verdicts:
    """Collects PASS/FAIL lines for the targets a benchmark checks."""

    def __init__(self) -> None:
        self.results: list[tuple[str, bool, str]] = []

    def check(self, target: str, ok: bool, detail: str) -> bool:
        self.results.append((target, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'}  {target}: {detail}")
        return ok

    def summary(self) -> str:
        met = sum(ok for _, ok, _ in self.results)
        return f"{met} of {len(self.results)} targets met"

    def status(self) -> int:
        """The benchmark's exit status: 0 when every target was met, 1 otherwise."""
        return 0 if all(ok for _, ok, _ in self.results) else 1


def mode() -> str:
    """'compiled' or 'pure Python': which fragpool this process runs."""
    import fragpool

    return "compiled" if fragpool.compiled else "pure Python"


def run_pure(script: str, argv: Sequence[str]) -> dict:
    """The same benchmark run once more with fragpool's sources interpreted.

    Runs ``script argv --emit-json`` with FRAGPOOL_NO_EXTENSIONS=1 and returns the JSON
    document it prints last: the figures to set beside the compiled ones.
    """
    env = dict(os.environ, FRAGPOOL_NO_EXTENSIONS="1")
    out = subprocess.run(
        [sys.executable, script, *argv, "--emit-json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    if doc.get("mode") != "pure Python":
        raise RuntimeError(f"{script} did not run interpreted: {doc.get('mode')}")
    return doc
