"""The example RX driver's speed: `fragpool driver -r FILE`, compiled against pure Python.

Run: ``.venv/bin/python benchmarks/bench_driver.py`` (options: ``--runs N``, ``--packets N``,
``--xdp-frames N``, ``--no-xdp``).

It reads bench_read's IMIX capture (1,000,000 Ethernet/IPv4/UDP frames of 64, 576 and 1500
bytes, made on first use) through ``fragpool driver -r FILE --json``: the file wire, RSS
over 4 rings, igb-style half-page flip and reuse, NAPI polls, a handler that frees each skb.
Each round runs the command compiled and then with FRAGPOOL_NO_EXTENSIONS=1, each in its own
process; the packets/s are the driver's own figure (its receive loop, teardown excluded),
medians over the rounds. Target: compiled >= 4x pure Python.

As root it also runs ``fragpool driver -i IF --xdp -c N`` on a veth pair while trafgen sends
64-byte frames from the far end without pause: the AF_XDP wire (fill ring as each ring's
tail, RX ring as the write-back) under the same igb rings. A live link's rate is the
sender's, so that row compares the driver's own CPU time per frame received (user and
system, the process's rusage), compiled against pure. Target: compiled >= 4x pure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

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


def print_medians(runs: dict[str, list[dict]], key: str, head: str, unit: str) -> dict:
    """Print each mode's median of ``key`` and its runs; return the medians by mode."""
    med = {m: statistics.median(r[key] for r in rs) for m, rs in runs.items()}
    rows = [[m, f"{med[m]:,.0f}", " ".join(f"{r[key]:,.0f}" for r in rs)] for m, rs in runs.items()]
    print(table(["mode", head, f"runs ({unit})"], rows))
    return med


def run_xdp_driver(pair, frames: int, pure: bool) -> dict:
    """`fragpool driver -i IF --xdp -c frames --json` while trafgen floods; CPU per frame."""
    from netns import trafgen_config, udp_frame

    env = {k: v for k, v in os.environ.items() if k != "FRAGPOOL_NO_EXTENSIONS"}
    if pure:
        env["FRAGPOOL_NO_EXTENSIONS"] = "1"
    fd, cfg = tempfile.mkstemp(prefix="fp-bench-", suffix=".cfg")
    with os.fdopen(fd, "w") as f:
        f.write(trafgen_config([udp_frame(1024, 2048, 0, size=64)]))
    sender = subprocess.Popen(
        ["ip", "netns", "exec", pair.netns, "trafgen", "--dev", pair.peer, "--conf", cfg,
         "--cpus", "1", "--no-sock-mem", "--notouch-irq", "--no-cpu-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        time.sleep(0.3)
        out = subprocess.run(
            [sys.executable, "-m", "fragpool", "driver", "-i", pair.local, "--xdp",
             "--rings", "1", "-c", str(frames), "--json"],
            capture_output=True, text=True, env=env, check=True, timeout=300,
        )  # fmt: skip
    finally:
        os.killpg(sender.pid, signal.SIGINT)
        sender.wait(timeout=10)
        os.unlink(cfg)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the children's rusage since `before`: the driver's, and trafgen's once it is reaped,
    # so trafgen is reaped only after the driver's figure is taken
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    doc = json.loads(out.stdout)
    got = doc["total"]["packets"]
    return {"cpu_ns": 1e9 * cpu / got, "packets": got, "clean": doc["teardown"]["clean"],
            "compiled": doc["rate"]["compiled"]}  # fmt: skip


def xdp_rows(runs: int, frames: int, verdicts: Verdicts) -> None:
    """The AF_XDP driver compiled against pure Python (root, veth, trafgen)."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
    from netns import VethPair

    res: dict[str, list[dict]] = {"compiled": [], "pure Python": []}
    with VethPair(mtu=1500) as pair:
        for _ in range(runs):
            res["compiled"].append(run_xdp_driver(pair, frames, pure=False))
            res["pure Python"].append(run_xdp_driver(pair, frames, pure=True))
    print(f"\nfragpool driver -i IF --xdp --rings 1 -c {frames:,} (veth, 64 B, trafgen flooding)")
    med = print_medians(res, "cpu_ns", "CPU ns/frame", "ns/frame")
    ratio = med["pure Python"] / med["compiled"]
    print(f"pure Python / compiled CPU per frame: {ratio:.2f}x")
    every = [r for rs in res.values() for r in rs]
    verdicts.check(
        "--xdp: every run received its frames and tore down clean",
        all(r["packets"] == frames and r["clean"] for r in every),
        f"{sorted({r['packets'] for r in every})}",
    )
    verdicts.check(f"--xdp compiled >= {TARGET}x pure Python", ratio >= TARGET, f"{ratio:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds of both modes (median)")
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--xdp-frames", type=int, default=2_000_000, help="frames per --xdp run")
    parser.add_argument("--no-xdp", action="store_true", help="leave out the --xdp rows")
    args = parser.parse_args(argv)
    path = capture_path(args.packets)
    runs: dict[str, list[dict]] = {"compiled": [], "pure Python": []}
    for _ in range(args.runs):
        runs["compiled"].append(run_driver(path, pure=False))
        runs["pure Python"].append(run_driver(path, pure=True))
    print(f"fragpool driver -r {path} ({args.packets:,} frames), median of {args.runs} runs")
    med = print_medians(runs, "pps", "packets/s", "packets/s")
    ratio = med["compiled"] / med["pure Python"]
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
    if os.geteuid() == 0 and not args.no_xdp:
        xdp_rows(args.runs, args.xdp_frames, verdicts)
    elif not args.no_xdp:
        print("\n--xdp rows skipped (they need root: a veth pair and AF_XDP)")
    print(verdicts.summary())
    return verdicts.status()


if __name__ == "__main__":
    sys.exit(main())
