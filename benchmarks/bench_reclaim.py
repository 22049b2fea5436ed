"""Reading without free(): dropped skbs are reclaimed, so the pool and RSS stay flat.

Run: ``.venv/bin/python benchmarks/bench_reclaim.py`` (options: ``--mb N``, ``--passes N``).

Writes an N MB capture of 1000-byte frames (101 by default) to benchmarks/data/ and reads it
``--passes`` times (3) the way dpkt and scapy users read: every skb dropped, none freed.
It prints packets/s, the process RSS before and after, the pool's pages in use and the
skbs reclaimed, compiled and then pure Python (a process each), beside a compiled pass that
frees every skb, for the price of reclaiming. Targets (issue 11): RSS grows by less than
32 MiB, and the pages in use return to their start value after gc.collect().
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from _common import Verdicts, table  # noqa: E402


def capture(mb: int) -> str:
    path = os.path.join(HERE, "data", f"reclaim-{mb}mb.pcap")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
        frame = bytes(12) + b"\x08\x00" + bytes(986)
        rec = struct.pack("<IIII", 1_700_000_000, 0, len(frame), len(frame)) + frame
        with open(path + ".tmp", "wb") as f:
            f.write(header)
            for _ in range(mb):
                f.write(rec * 1000)
        os.replace(path + ".tmp", path)
    return path


def child(path: str, passes: int, free: bool) -> dict:
    import psutil

    import fragpool
    from fragpool import open_offline
    from fragpool.mm import PageAllocator

    pa = PageAllocator()
    proc = psutil.Process()
    rss0, pages0 = proc.memory_info().rss, pa.in_use_pages()
    n = 0
    skb = None
    start = time.perf_counter()
    for _ in range(passes):
        with open_offline(path, allocator=pa) as reader:
            for skb in reader:
                n += 1
                if free:
                    skb.free()
        skb = None  # the loop's last one: dropped too
        gc.collect()
    seconds = time.perf_counter() - start
    return {
        "compiled": fragpool.compiled,
        "packets": n,
        "pps": n / seconds,
        "rss0": rss0,
        "rss1": proc.memory_info().rss,
        "pages0": pages0,
        "pages1": pa.in_use_pages(),
        "reclaimed": pa.stats()["skbs_reclaimed"],
    }


def measure(path: str, passes: int, free: bool, pure: bool) -> dict:
    env = dict(os.environ)
    env.pop("FRAGPOOL_NO_EXTENSIONS", None)
    if pure:
        env["FRAGPOOL_NO_EXTENSIONS"] = "1"
    cmd = [sys.executable, os.path.abspath(__file__), "--child", path, str(passes)]
    if free:
        cmd.append("--free")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=101)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--free", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.free)))
        return 0
    path = capture(args.mb)
    rows, verdicts = [], Verdicts()
    for name, free, pure in (("dropped (compiled)", False, False),
                             ("dropped (pure Python)", False, True),
                             ("free() each (compiled)", True, False)):  # fmt: skip
        r = measure(path, args.passes, free, pure)
        growth = (r["rss1"] - r["rss0"]) / 2**20
        rows.append([name, r["packets"], f"{r['pps']:,.0f}", round(r["rss0"] / 2**20, 1),
                     round(r["rss1"] / 2**20, 1), f"{r['pages0']} -> {r['pages1']}",
                     r["reclaimed"]])  # fmt: skip
        if not free:
            verdicts.check(f"{name}: RSS grows < 32 MiB", growth < 32, f"{growth:+.1f} MiB")
            verdicts.check(f"{name}: pages back to start", r["pages1"] == r["pages0"],
                           f"{r['pages0']} -> {r['pages1']}")  # fmt: skip
            verdicts.check(f"{name}: every skb reclaimed", r["reclaimed"] == r["packets"],
                           str(r["reclaimed"]))  # fmt: skip
    print(f"file: {path} ({os.path.getsize(path) / 1e6:.0f} MB), {args.passes} passes")
    print(table(["skbs", "packets", "packets/s", "RSS before MiB", "RSS after MiB",
                 "pages in use", "reclaimed"], rows))  # fmt: skip
    print(verdicts.summary())
    return verdicts.status()


if __name__ == "__main__":
    sys.exit(main())
