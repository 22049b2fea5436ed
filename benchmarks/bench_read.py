"""Capture-file reading: fragpool's open_offline against dpkt, scapy and pcapy-ng.

Run: ``.venv/bin/python benchmarks/bench_read.py`` (options: ``--runs N``, ``--packets N``).

The first run writes a 1,000,000-packet IMIX capture (Ethernet/IPv4/UDP frames of 64, 576
and 1500 bytes in the proportion 7:4:1) to benchmarks/data/, built with struct from three
template frames, and reuses it afterwards. Each reader then reads the whole file in a
subprocess of its own (so its peak RSS is its own), touching one byte of every packet:

- fragpool: ``open_offline`` with its own PageAllocator, batches of up to 256 skbs (a
  whole buffer), each packet's first byte read as ``skb[0]``, the batch then freed with
  ``kfree_skb_list`` (the targets are judged on this row); it also reports the most
  compound pages in use at once;
- "fragpool, free() each": the same with every skb freed by its own ``skb.free()``;
- "fragpool, linear_view()[0]": the byte read through a memoryview of the packet;
- "fragpool pure Python": the first row's loop with the .py sources interpreted;
- dpkt.pcap.Reader, scapy's RawPcapReader and, when installed, pcapy-ng's open_offline;
- "filtered" rows: fragpool with ``open_offline(path, filter=FILTER)`` (libpcap's compiled
  program run by fragpool's classic-BPF interpreter) against pcapy-ng with ``setfilter``
  (libpcap's own interpreter), both keeping the same 5/12 of the packets. No target: the
  figures show what a filter costs.

Readers run in turn within every round (``--runs``, default 3) and the medians are shown:
packets/s, MB/s of file, peak RSS and fragpool's speed over each peer. The fragpool rows run
compiled, and once more as pure Python (FRAGPOOL_NO_EXTENSIONS=1). Targets, for the compiled
``skb[0]`` row: at least 6x dpkt, 2x pcapy-ng and 2x scapy RawPcapReader packets/s,
fragpool's peak RSS under 64 MiB and at most 4 compound pages in use at any time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from _common import Verdicts, table  # noqa: E402

DATA = os.path.join(HERE, "data")
SIZES = (64, 576, 1500)
MIX = (7, 4, 1)


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(size: int) -> bytes:
    """An Ethernet/IPv4/UDP frame of ``size`` bytes with a valid IPv4 header checksum."""
    eth = bytes.fromhex("0200000000020200000000010800")
    ip_len = size - 14
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, 1, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", 1024, 9, ip_len - 20, 0)
    payload = bytes(i & 0xFF for i in range(size - 42))
    return eth + ip + udp + payload


def make_capture(path: str, packets: int) -> None:
    """Write an IMIX pcap (microseconds, little-endian) of ``packets`` records, fast."""
    pattern = [size for size, weight in zip(SIZES, MIX, strict=True) for _ in range(weight)]
    frames = {size: frame(size) for size in SIZES}
    rec = struct.Struct("<IIII").pack
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        base = 1_700_000_000
        step = 10_000
        for first in range(0, packets, step):
            parts = []
            for i in range(first, min(first + step, packets)):
                size = pattern[i % 12]
                parts.append(rec(base + i // 100_000, (i % 100_000) * 10, size, size))
                parts.append(frames[size])
            f.write(b"".join(parts))
    os.replace(tmp, path)


def capture_path(packets: int) -> str:
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"imix-{packets}.pcap")
    if not os.path.exists(path):
        start = time.perf_counter()
        make_capture(path, packets)
        print(f"generated {path} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return path


# --------------------------------------------------------------------------- readers
#: The filtered rows' expression: keeps the 576- and 1500-byte frames (5 of every 12).
FILTER = "udp and greater 500"


def read_fragpool(path: str, how: str = "index") -> dict:
    """Batches of 256 skbs, each packet's first byte read through the public API, then freed.

    ``how``: "index" reads ``skb[0]`` and frees the batch with kfree_skb_list; "each" reads
    ``skb[0]`` and frees every skb with its own free(); "view" reads ``linear_view()[0]``
    (a memoryview per packet) and frees the batch; "filter" is "index" with FILTER;
    "debug" is "index" on an allocator in debug mode (fragpool.mm.debug).
    """
    import fragpool
    from fragpool.io.files.reader import open_offline
    from fragpool.mm import PageAllocator
    from fragpool.skb import kfree_skb_list

    pa = PageAllocator(debug=how == "debug")
    n = touched = 0
    peak_pages = 0
    expr = FILTER if how == "filter" else None
    with open_offline(path, allocator=pa, filter=expr) as reader:
        read_batch = reader.read_batch
        in_use = pa.in_use_pages
        while True:
            batch = read_batch(256)
            if not batch:
                break
            pages = in_use()
            if pages > peak_pages:
                peak_pages = pages
            if how == "each":
                for skb in batch:
                    touched ^= skb[0]
                    skb.free()
            elif how == "view":
                for skb in batch:
                    touched ^= skb.linear_view()[0]
                kfree_skb_list(batch)
            else:
                for skb in batch:
                    touched ^= skb[0]
                kfree_skb_list(batch)
            n += len(batch)
        stats = reader.stats()
    return {
        "packets": n,
        "touched": touched,
        "peak_pages": peak_pages,
        "pages_taken": stats["pages_taken"],
        "pages_in_use_after": pa.in_use_pages(),
        "compiled": fragpool.compiled,
    }


def read_fragpool_each(path: str) -> dict:
    return read_fragpool(path, "each")


def read_fragpool_view(path: str) -> dict:
    return read_fragpool(path, "view")


def read_fragpool_filter(path: str) -> dict:
    return read_fragpool(path, "filter")


def read_fragpool_debug(path: str) -> dict:
    return read_fragpool(path, "debug")


def read_dpkt(path: str) -> dict:
    import dpkt

    n = touched = 0
    with open(path, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            touched ^= buf[0]
            n += 1
    return {"packets": n, "touched": touched}


def read_scapy(path: str) -> dict:
    from scapy.utils import RawPcapReader

    n = touched = 0
    with RawPcapReader(path) as reader:
        for buf, _meta in reader:
            touched ^= buf[0]
            n += 1
    return {"packets": n, "touched": touched}


def read_pcapy(path: str, expr: str | None = None) -> dict:
    import pcapy

    n = touched = 0
    reader = pcapy.open_offline(path)
    if expr is not None:
        reader.setfilter(expr)
    while True:
        header, buf = reader.next()
        if header is None:
            break
        touched ^= buf[0]
        n += 1
    return {"packets": n, "touched": touched}


def read_pcapy_filter(path: str) -> dict:
    return read_pcapy(path, FILTER)


READERS = {
    "fragpool": read_fragpool,
    "fragpool, free() each": read_fragpool_each,
    "fragpool, linear_view()[0]": read_fragpool_view,
    "fragpool pure Python": read_fragpool,
    "dpkt": read_dpkt,
    "scapy RawPcapReader": read_scapy,
    "pcapy-ng": read_pcapy,
    "fragpool, filtered": read_fragpool_filter,
    "fragpool pure Python, filtered": read_fragpool_filter,
    "pcapy-ng, filtered": read_pcapy_filter,
    "fragpool, debug mode": read_fragpool_debug,
}
MODULES = {
    "dpkt": "dpkt",
    "scapy RawPcapReader": "scapy",
    "pcapy-ng": "pcapy",
    "pcapy-ng, filtered": "pcapy",
}
#: Readers that run fragpool's .py sources interpreted (FRAGPOOL_NO_EXTENSIONS=1).
PURE = {"fragpool pure Python", "fragpool pure Python, filtered"}
#: Readers that keep only FILTER's packets.
FILTERED = {"fragpool, filtered", "fragpool pure Python, filtered", "pcapy-ng, filtered"}


def run_child(name: str, path: str) -> None:
    """In the subprocess: read the file once, print one JSON line of results."""
    start = time.perf_counter()
    result = READERS[name](path)
    result["seconds"] = time.perf_counter() - start
    result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


def installed(name: str) -> bool:
    module = MODULES.get(name)
    if module is None:
        return True
    probe = f"import importlib.util,sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([sys.executable, "-c", probe]).returncode == 0


def measure(name: str, path: str) -> dict:
    env = dict(os.environ)
    env.pop("FRAGPOOL_NO_EXTENSIONS", None)
    if name in PURE:
        env["FRAGPOOL_NO_EXTENSIONS"] = "1"
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", name, path],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds of all readers (median)")
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("READER", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(*args.child)
        return 0
    path = capture_path(args.packets)
    size_mb = os.path.getsize(path) / 1e6
    names = [name for name in READERS if installed(name)]
    skipped = [name for name in READERS if name not in names]
    results: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(args.runs):
        for name in names:
            results[name].append(measure(name, path))
    med = {}
    for name, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        med[name] = {
            "seconds": seconds,
            "pps": runs[0]["packets"] / seconds,
            "mbps": size_mb / seconds,
            "rss": statistics.median(r["peak_rss"] for r in runs),
            "packets": runs[0]["packets"],
        }
    frag = med["fragpool"]
    rows = [
        [name, m["packets"], f"{m['pps']:,.0f}", round(m["mbps"], 1),
         round(m["rss"] / 2**20, 1), round(frag["pps"] / m["pps"], 2)]
        for name, m in med.items()
    ]  # fmt: skip
    print(f"file: {path} ({size_mb:.1f} MB, {args.packets} packets), median of {args.runs} runs")
    print(table(["reader", "packets", "packets/s", "MB/s", "peak RSS MiB", "fragpool x"], rows))
    if skipped:
        print(f"not installed: {', '.join(skipped)}")
    peak_pages = max(r["peak_pages"] for r in results["fragpool"])
    print(f"fragpool: at most {peak_pages} compound pages in use at once")
    pure = med.get("fragpool pure Python")
    if pure:
        print(f"fragpool compiled / pure Python: {frag['pps'] / pure['pps']:.2f}x")
    filtered, peer = med.get("fragpool, filtered"), med.get("pcapy-ng, filtered")
    if filtered:
        # packets/s of the filtered rows count packets read, kept or not
        seconds = {name: m["seconds"] for name, m in med.items() if name in FILTERED}
        for name in seconds:
            med[name]["pps_read"] = args.packets / seconds[name]
        line = f"filter {FILTER!r}: fragpool reads {filtered['pps_read']:,.0f} packets/s"
        if peer:
            ratio = filtered["pps_read"] / peer["pps_read"]
            line += f", pcapy-ng {peer['pps_read']:,.0f} ({ratio:.2f}x)"
        unfiltered = frag["seconds"]
        line += (
            f"; the filter adds {(filtered['seconds'] - unfiltered) / args.packets * 1e9:.0f} ns"
        )
        print(line + " per packet to fragpool's read")
    debug = med.get("fragpool, debug mode")
    if debug:
        extra = (debug["seconds"] - frag["seconds"]) / args.packets * 1e9
        print(
            f"debug mode (views counted, poison, quarantine, a site per skb): "
            f"{debug['pps']:,.0f} packets/s, {frag['pps'] / debug['pps']:.1f}x slower, "
            f"{extra:,.0f} ns per packet"
        )
    verdicts = Verdicts()
    counts = {m["packets"] for name, m in med.items() if name not in FILTERED}
    verdicts.check("every reader saw every packet", counts == {args.packets}, str(counts))
    kept = {m["packets"] for name, m in med.items() if name in FILTERED}
    if kept:
        expect = args.packets * 5 // 12
        same = len(kept) == 1 and abs(next(iter(kept)) - expect) <= 12
        verdicts.check("filtered readers kept the same 5/12 of the packets", same, str(kept))
    modes = {
        name: results[name][0].get("compiled") for name in results if "compiled" in results[name][0]
    }
    verdicts.check(
        "fragpool rows ran compiled, the pure row interpreted",
        all(modes[name] == (name not in PURE) for name in modes),
        str(modes),
    )
    for peer, target in (("dpkt", 6.0), ("pcapy-ng", 2.0), ("scapy RawPcapReader", 2.0)):
        if peer in med:
            ratio = frag["pps"] / med[peer]["pps"]
            verdicts.check(f"fragpool >= {target}x {peer}", ratio >= target, f"{ratio:.2f}x")
    rss = frag["rss"] / 2**20
    verdicts.check("fragpool peak RSS < 64 MiB", rss < 64, f"{rss:.1f} MiB")
    verdicts.check("<= 4 compound pages in use", peak_pages <= 4, str(peak_pages))
    print(verdicts.summary())
    return verdicts.status()


if __name__ == "__main__":
    sys.exit(main())
