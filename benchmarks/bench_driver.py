"""The example RX driver's speed: `fragpool driver -r FILE`, compiled against pure Python.

Run: ``.venv/bin/python benchmarks/bench_driver.py`` (options: ``--runs N``, ``--packets N``).

It reads bench_read's IMIX capture (1,000,000 Ethernet/IPv4/UDP frames of 64, 576 and 1500
bytes, made on first use) through ``fragpool driver -r FILE --json``: the file wire, RSS
over 4 rings, igb-style half-page flip and reuse, NAPI polls, a handler that frees each skb.
Each round runs the command compiled and then with FRAGPOOL_NO_EXTENSIONS=1, each in its own
process; the packets/s are the driver's own figure (its receive loop, teardown excluded),
medians over the rounds. Target: compiled >= 4x pure Python.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _common import Verdicts, table  # noqa: E402
from bench_read import capture_path  # noqa: E402

TARGET = 4.0


def run_driver(path: str, pure: bool) -> dict:
    """One `fragpool driver -r path --json` run; its rate and teardown."""
    env = {k: v for k, v in os.environ.items() if k != "FRAGPOOL_NO_EXTENSIONS"}
    if pure:
        env["FRAGPOOL_NO_EXTENSIONS"] = "1"
    out = subprocess.run(
        [sys.executable, "-m", "fragpool", "driver", "-r", path, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    doc = json.loads(out.stdout)
    return {
        "pps": doc["rate"]["packets_per_second"],
        "compiled": doc["rate"]["compiled"],
        "packets": doc["total"]["packets"],
        "clean": doc["teardown"]["clean"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds of both modes (median)")
    parser.add_argument("--packets", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    path = capture_path(args.packets)
    runs: dict[str, list[dict]] = {"compiled": [], "pure Python": []}
    for _ in range(args.runs):
        runs["compiled"].append(run_driver(path, pure=False))
        runs["pure Python"].append(run_driver(path, pure=True))
    med = {mode: statistics.median(r["pps"] for r in rs) for mode, rs in runs.items()}
    ratio = med["compiled"] / med["pure Python"]
    print(f"fragpool driver -r {path} ({args.packets:,} frames), median of {args.runs} runs")
    print(
        table(
            ["mode", "packets/s", "runs (packets/s)"],
            [
                [mode, f"{med[mode]:,.0f}", " ".join(f"{r['pps']:,.0f}" for r in rs)]
                for mode, rs in runs.items()
            ],
        )
    )
    print(f"compiled / pure Python: {ratio:.2f}x")
    verdicts = Verdicts()
    every = [r for rs in runs.values() for r in rs]
    verdicts.check(
        "every run received every frame and tore down clean",
        all(r["packets"] == args.packets and r["clean"] for r in every),
        f"{sorted({r['packets'] for r in every})}",
    )
    verdicts.check(
        "each mode ran as asked",
        all(r["compiled"] for r in runs["compiled"])
        and not any(r["compiled"] for r in runs["pure Python"]),
        "compiled rows compiled, pure rows interpreted",
    )
    verdicts.check(f"compiled >= {TARGET}x pure Python", ratio >= TARGET, f"{ratio:.2f}x")
    print(verdicts.summary())
    return verdicts.status()


if __name__ == "__main__":
    sys.exit(main())
