"""`fragpool driver`: run the example RX driver and print its allocation counts.

With no source it receives the sample capture bundled in examples/data/ (what `make run`
does); ``-r FILE`` receives a pcap/pcapng file, ``-i IF`` a live interface (one AF_PACKET
socket per ring in a PACKET_FANOUT hash group; Ctrl-C or ``-c N`` ends it); ``-i IF --xdp``
runs the rings on the interface's queues themselves, through AF_XDP (fragpool.driver.xdp_wire:
the fill ring is each ring's descriptor ring, igb's legacy-rx path on 2048-byte chunks).

Beside the run's own counts it shows what the naive scheme (one page reference per buffer,
no pagecnt_bias) would have cost: measured by a second run on the same frames when the
source is a file, computed from the run's counts (one get_page per buffer handed to the
stack) when it is a live interface.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

# Only what the parser needs is imported here: `fragpool capture` loads this module too
# (every command registers), and the driver itself is imported when it runs.
from ..driver.constants import DEFAULT_BUDGET, DEFAULT_RING_SIZE, DEFAULT_RINGS, POOL_KINDS
from ._args import add_debug, positive

if TYPE_CHECKING:
    from ..driver import RxDevice
    from ..stats import Snapshot

#: The capture `fragpool driver` receives when given no source.
#: The bundled sample capture, shipped inside the package (package data, so it is found in a
#: wheel's site-packages as in a checkout).
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample.pcap"  # package data

COLUMNS = (
    ("packets", "packets"),
    ("bytes", "bytes"),
    ("polls", "polls"),
    ("pages", "pages"),
    ("buffers", "buffers"),
    ("handed_up", "frags"),
    ("flips", "flips"),
    ("reuses", "reuses"),
    ("releases", "released"),
    ("restocks", "restocks"),
    ("copybreaks", "copybrk"),
    ("refcount_ops", "refcnt ops"),
    ("drops", "drops"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "driver",
        help="run the example RX driver (rings, page flip and reuse, NAPI) and print counts",
        description=__doc__.splitlines()[0],
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("-r", dest="file", metavar="FILE", help="receive a pcap/pcapng file")
    src.add_argument("-i", dest="interface", metavar="IF", help="receive a live interface")
    p.add_argument("-c", dest="count", type=positive("-c"), metavar="N", help="stop after N frames")
    p.add_argument("--rings", type=int, default=DEFAULT_RINGS, metavar="N")
    p.add_argument("--ring-size", type=int, default=DEFAULT_RING_SIZE, metavar="N")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, metavar="N", help="NAPI weight")
    p.add_argument("--pool", choices=POOL_KINDS, default="frag", help="buffer source per ring")
    p.add_argument(
        "--legacy-rx",
        action="store_true",
        help="igb's legacy-rx: copy headers into a small head, the rest as a page frag",
    )
    p.add_argument(
        "--xdp",
        action="store_true",
        help="with -i: drive queues 0..rings-1 through AF_XDP (takes their frames from the stack)",
    )
    p.add_argument(
        "--xdp-mode", choices=("auto", "native", "generic"), default="auto", help="with --xdp"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("-Z", dest="user", metavar="USER",
                   help="after the sockets are open (and XDP attached), drop to USER")  # fmt: skip
    add_debug(p)
    p.set_defaults(func=run)


def _wire(args: argparse.Namespace) -> tuple[object, str]:
    if args.xdp:
        from ..driver.xdp_wire import XdpWire

        if not args.interface:
            raise ValueError("--xdp drives an interface's queues: give it -i IF")
        wire = XdpWire(args.interface, count=args.count, xdp_mode=args.xdp_mode)
        return wire, f"interface {args.interface} (AF_XDP)"
    from ..driver import FileWire, LiveWire

    if args.interface:
        return LiveWire(args.interface, count=args.count), f"interface {args.interface}"
    path = Path(args.file) if args.file else SAMPLE
    if not path.exists():
        what = "the bundled sample capture" if not args.file else "capture file"
        raise FileNotFoundError(f"{what} {path} does not exist")
    return FileWire(path, count=args.count), str(path)


def _device(args: argparse.Namespace, wire: object, pool: str) -> RxDevice:
    from ..driver import RxDevice
    from ..mm import PageAllocator

    allocator = None
    if args.xdp:  # the UMEM: one arena of the device's allocator (AF_XDP.md, gotcha 14)
        size = max(16 << 20, args.rings * args.ring_size * 4096 * 2)
        allocator = PageAllocator(arena_size=size, budget=size)
    return RxDevice(
        wire,
        rings=args.rings,
        ring_size=args.ring_size,
        budget=args.budget,
        pool=pool,
        legacy_rx=args.legacy_rx or args.xdp,
        allocator=allocator,
    )


def _naive_figures(args: argparse.Namespace, stats: Snapshot) -> dict:
    """What the naive scheme costs on the same traffic: measured for files, else computed."""
    total = stats["total"]
    if args.pool == "naive":
        return {
            "method": "this run",
            "refcount_ops": total["refcount_ops"],
            "pages": total["pages"],
            "allocator_refcount_ops": stats["allocator"]["refcount_ops"],
        }
    if args.interface:
        return {
            "method": "computed: this run's driver ops plus one get_page per buffer handed up",
            "refcount_ops": total["refcount_ops"] + total["handed_up"],
            "pages": total["pages"],
            "allocator_refcount_ops": stats["allocator"]["refcount_ops"] + total["handed_up"],
        }
    wire, _ = _wire(args)
    dev = _device(args, wire, "naive")
    try:
        naive = dev.run()
    finally:
        dev.teardown()
    return {
        "method": "measured: a second run with --pool naive on the same frames",
        "refcount_ops": naive["total"]["refcount_ops"],
        "pages": naive["total"]["pages"],
        "allocator_refcount_ops": naive["allocator"]["refcount_ops"],
    }


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _print_text(doc: dict, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    cfg = doc["config"]
    mode = "legacy-rx" if cfg["legacy_rx"] else "build_skb"
    print(
        f"fragpool driver: {doc['source']}: {doc['frames_offered']} frames, "
        f"{cfg['rings']} rings x {cfg['ring_size']} descriptors, budget {cfg['budget']}, "
        f"pool {cfg['pool']}, {mode}",
        file=out,
    )
    heads = ["ring"] + [title for _, title in COLUMNS]
    rows = [[str(r["ring"])] + [str(r[key]) for key, _ in COLUMNS] for r in doc["rings"]]
    rows.append(["total"] + [str(doc["total"][key]) for key, _ in COLUMNS])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    print("  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True)), file=out)
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)), file=out)
    a = doc["allocator"]
    print(
        f"allocator: {a['compound_pages']} compound pages mapped "
        f"({a['arenas_mapped']} arenas, {_mib(a['bytes_mapped'])}); "
        f"{doc['total']['handed_up']} fragments to the stack, "
        f"{doc['total']['reuses']} in-place reuses; "
        f"refcount ops {a['refcount_ops']}, page_frag_free {a['frag_frees']}",
        file=out,
    )
    n = doc["naive"]
    print(
        f"naive (no pagecnt_bias, {n['method']}): driver refcount ops {n['refcount_ops']} "
        f"vs {doc['total']['refcount_ops']} here; pages {n['pages']}",
        file=out,
    )
    if doc.get("page_pool"):
        pp = doc["page_pool"]
        names = ("fast", "slow", "slow_high_order", "empty", "refill", "waive")
        alloc = " ".join(f"{k} {pp[k]}" for k in names)
        recycle = " ".join(
            f"{k} {pp[k]}" for k in ("cached", "cache_full", "ring", "ring_full", "released_refcnt")
        )
        print(f"page_pool (through teardown): alloc {alloc}; recycle {recycle}", file=out)
    print(f"drops: {doc['total']['drops']}", end="", file=out)
    wire = doc["wire"]
    if "kernel_drops" in wire:
        print(f" (kernel socket drops {wire['kernel_drops']})", end="", file=out)
    print(f"; peak RSS: {_mib(doc['peak_rss_bytes'])}", file=out)
    rate = doc.get("rate")
    if rate:
        mode = "compiled" if rate["compiled"] else "pure Python"
        print(
            f"speed: {doc['total']['packets']} packets in {rate['seconds']:.2f} s, "
            f"{rate['packets_per_second']:,.0f} packets/s ({mode})",
            file=out,
        )
    print(doc["teardown"]["line"], file=out)


def build_document(args: argparse.Namespace, source: str, dev: RxDevice, stats: Snapshot) -> dict:
    """One machine-readable document for a finished, torn-down run."""
    report = dev.teardown()
    rings = [dict(r) for r in stats["rings"]]
    total = dict(stats["total"])
    pp: dict[str, int] = {}
    for ring in dev.rings:  # read after teardown: page_pool_destroy's recycling counts too
        for key, value in ring.source.stats().get("page_pool", {}).items():
            pp[key] = pp.get(key, 0) + value
    alloc = dict(stats["allocator"])
    alloc["compound_pages"] = sum(v for k, v in alloc.items() if k.startswith("pages_alloc_order"))
    alloc["pages_in_use_after_teardown"] = dev.pa.in_use_pages()
    for r in rings:
        r.pop("source", None)
        r.pop("napi_frag_cache", None)
    return {
        "source": source,
        "config": {
            "rings": args.rings,
            "ring_size": args.ring_size,
            "budget": args.budget,
            "pool": args.pool,
            "legacy_rx": args.legacy_rx or args.xdp,
        },
        "frames_offered": stats["frames_offered"],
        "rings": rings,
        "total": total,
        "allocator": alloc,
        "page_pool": pp or None,
        "naive": _naive_figures(args, stats),
        "wire": dict(stats["wire"]),
        "peak_rss_bytes": stats["peak_rss_bytes"],
        "teardown": {**report.as_dict(), "line": report.line()},
    }


def _rate(packets: int, seconds: float) -> dict:
    """Receive speed of the run (the wire, the rings and the stack, teardown excluded)."""
    import fragpool

    return {
        "seconds": seconds,
        "packets_per_second": packets / seconds if seconds > 0 else 0.0,
        "compiled": fragpool.compiled,
    }


def run(args: argparse.Namespace) -> int:
    from ..progress import Progress
    from ._privileges import PrivilegeError, drop_to

    for name in ("rings", "ring_size", "budget"):
        if getattr(args, name) < 1:
            print(f"fragpool driver: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    try:
        wire, source = _wire(args)
        dev = _device(args, wire, args.pool)
    except (OSError, ValueError) as e:
        print(f"fragpool driver: {e}", file=sys.stderr)
        return 1
    progress = Progress()

    def show(d: RxDevice) -> None:
        if progress.due():
            packets = sum(r.packets for r in d.rings)
            drops = sum(r.rx_no_buffer + r.rx_length_errors for r in d.rings)
            progress.update(f"driver: {packets} packets, {drops} drops, {d.rounds} rounds")

    try:
        with progress:
            dev.open()  # the sockets and the XDP program, as root
            if args.user:  # -Z: run the rings as USER from the first packet on
                drop_to(args.user)
            start = time.perf_counter()
            try:
                stats = dev.run(show)
            except KeyboardInterrupt:
                stats = dev.stats()
            seconds = time.perf_counter() - start
        doc = build_document(args, source, dev, stats)
        doc["rate"] = _rate(doc["total"]["packets"], seconds)
    except (OSError, ValueError, PrivilegeError) as e:
        dev.teardown()
        print(f"fragpool driver: {e}", file=sys.stderr)
        return 1
    if args.json:
        import json

        json.dump(doc, sys.stdout, indent=2)
        print()
    else:
        _print_text(doc)
    return 0 if doc["teardown"]["clean"] else 1
