"""`fragpool bench`: run the side-by-side benchmarks of a source checkout.

The benchmarks live in the repository's benchmarks/ folder (they drive dpkt, scapy,
pcapy-ng, tcpdump's test helpers and veth pairs, none of which the package ships), so this
command finds them beside the package it was started from and runs each in the same
interpreter; every benchmark prints its figures, the ratio against each peer measured in
the same run, and PASS/FAIL per target. The exit status is non-zero when a target failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

BENCHES = ("frag", "skb", "read", "reclaim", "driver", "print", "live")


def bench_dir() -> Path | None:
    """The checkout's benchmarks/ folder, or None for an installation without one."""
    folder = Path(__file__).resolve().parents[2] / "benchmarks"
    return folder if all((folder / f"bench_{n}.py").is_file() for n in BENCHES) else None


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench",
        help="measure fragpool beside the peers that are installed",
        description=(
            "Run fragpool's benchmarks (frag, skb, read, driver, live) from the source checkout; "
            "live needs root. Arguments after -- go to each benchmark run."
        ),
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHES)}"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # argparse drops the "--"; what follows it starts at the first option-like word
    words = [w for w in args.names if w != "--"]
    cut = next((i for i, w in enumerate(words) if w.startswith("-")), len(words))
    names, extra = words[:cut], words[cut:]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(
            f"fragpool bench: unknown benchmark {unknown[0]!r} (choose from {', '.join(BENCHES)})",
            file=sys.stderr,
        )
        return 2
    folder = bench_dir()
    if folder is None:
        print(
            "fragpool bench: no benchmarks/ folder beside this installation: the benchmarks "
            "run from a source checkout (clone it, then `make bench` or `fragpool bench`)",
            file=sys.stderr,
        )
        return 2
    chosen = names or [n for n in BENCHES if n != "live" or os.geteuid() == 0]
    if not names and "live" not in chosen:
        print("fragpool bench: skipping live (it needs root for its veth pair)", file=sys.stderr)
    import subprocess

    status = 0
    for name in chosen:
        print(f"== bench_{name}", flush=True)
        done = subprocess.run([sys.executable, str(folder / f"bench_{name}.py"), *extra])
        status = max(status, done.returncode)
    return status
