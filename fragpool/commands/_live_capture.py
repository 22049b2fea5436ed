"""The live half of `fragpool capture`: ``-i IF`` through open_live, tcpdump-like.

``fragpool capture -i IF [--mode recv_into|recvmmsg|tpacket_v3] [-w OUT [-C/-W/-G]] [-c N]
[-s SNAPLEN] [-p] [-B KIB] [EXPRESSION | --filter EXPR] [--json]``. Promiscuous mode is on
unless ``-p`` (as tcpdump's); ``-s 0`` keeps whole packets. Packets are printed as
tcpdump prints them, or saved with ``-w`` (pcap, or pcapng when OUT ends in .pcapng). A
terminal shows a live count of packets and kernel drops; piped output stays quiet. The
capture ends after ``-c N`` packets, on SIGINT/SIGTERM/SIGHUP (Ctrl-C, a closed terminal),
at -G/-W's file limit or on an error; in every case the ``-w`` files are closed complete
(a signal only sets a flag, so no record is cut in half) and the kernel's counts are
reported on stderr, as tcpdump does.

Bad input (a missing interface, no permission, a filter that does not compile, a ring too
large for memory) gives one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..progress import Progress
from ._output import JsonStream, one_line
from ._savefile import SaveFileError

PACKET_OUTGOING = 4  # sll_pkttype of a frame this host sent
POLL = 0.2  # seconds per wait, so a signal or -c ends the loop promptly


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The live-capture options of `fragpool capture`."""
    live = parser.add_argument_group("live capture")
    live.add_argument("-i", dest="interface", metavar="IF", help="capture live on IF")
    live.add_argument(
        "--mode",
        choices=("recv_into", "recvmmsg", "tpacket_v3", "af_xdp"),
        default="tpacket_v3",
        help="live receive path (default tpacket_v3; af_xdp takes the queue's frames from "
        "the kernel's stack)",
    )
    live.add_argument(
        "-s", dest="snaplen", type=int, metavar="SNAPLEN", help="bytes kept per packet (live)"
    )
    live.add_argument(
        "--promisc",
        action="store_true",
        help="promiscuous mode (the default, as tcpdump's; -p turns it off)",
    )
    live.add_argument(
        "-L",
        "--list-data-link-types",
        dest="list_datalinks",
        action="store_true",
        help="list the link types -i IF can be captured as, then exit",
    )
    live.add_argument(
        "-y",
        "--linktype",
        dest="datalink",
        metavar="TYPE",
        help="capture as link type TYPE (one -L lists)",
    )
    live.add_argument(
        "-Q",
        "--direction",
        choices=("in", "out", "inout"),
        help="the frames kept: received (in), sent (out) or both (inout, the default)",
    )
    live.add_argument(
        "-p",
        "--no-promiscuous-mode",
        dest="no_promisc",
        action="store_true",
        help="do not put the interface into promiscuous mode",
    )
    live.add_argument(
        "-B",
        "--buffer-size",
        dest="buffer_kib",
        type=int,
        metavar="KIB",
        help="the kernel's buffer in KiB: the socket queue (recv_into, recvmmsg) or the "
        "ring (tpacket_v3, rounded up to whole 1 MiB blocks); default 2048 and 16384",
    )


def keep_outgoing(batch: list) -> list:
    """The skbs of ``batch`` the host sent (pkt_type PACKET_OUTGOING); the others freed."""
    kept = []
    for skb in batch:
        if skb.pkt_type == PACKET_OUTGOING:
            kept.append(skb)
        else:
            skb.free()
    return kept


def live_options(args: argparse.Namespace, expr: str | None) -> dict[str, Any] | str:
    """open_live's keywords from the options; a usage error's message for a bad one."""
    if args.interface == "any":
        return (
            "-i any (the Linux cooked capture of every interface) is not supported: "
            "capture on one interface (-D lists them)"
        )
    if args.promisc and args.no_promisc:
        return "--promisc and -p contradict each other; give one"
    promisc: bool | None = not args.no_promisc
    if args.mode == "af_xdp" and not args.promisc:
        promisc = None  # as the interface is set: AF_XDP has no membership of its own
    opts: dict[str, Any] = {"mode": args.mode, "promisc": promisc, "filter": expr}
    if args.snaplen is not None:
        if args.snaplen < 0:
            return f"-s {args.snaplen}: a snapshot length is 0 (the largest) or more"
        opts["snaplen"] = args.snaplen
    if args.buffer_kib is not None:
        if args.buffer_kib < 1:
            return f"-B {args.buffer_kib}: the buffer is at least 1 KiB"
        size = args.buffer_kib * 1024
        if args.mode == "tpacket_v3":
            opts["block_nr"] = -(-size // (1 << 20))
        elif args.mode == "af_xdp":
            return "-B sizes an AF_PACKET buffer; af_xdp's UMEM has 4096 frames of 4 KiB"
        else:
            opts["rcvbuf"] = size
    if args.direction == "in":
        if args.mode == "af_xdp":
            return "-Q in with af_xdp: an AF_XDP queue receives only incoming frames anyway"
        opts["ignore_outgoing"] = True  # PACKET_IGNORE_OUTGOING: the kernel skips them
    elif args.direction == "out" and args.mode == "af_xdp":
        return "-Q out with af_xdp: an AF_XDP queue sees no outgoing frames; use an AF_PACKET mode"
    return opts


def data_link_types(ifname: str) -> list[str]:
    """The link types fragpool captures ``ifname`` as, tcpdump's way: "EN10MB (Ethernet)".
    (libpcap also offers DOCSIS on Ethernet, a relabelling fragpool does not do.)"""
    from ..io.files.linktypes import NAMES, describe
    from ..io.live.socket_filter import linktype_for

    number = {name: num for num, name in NAMES.items()}
    return [describe(number[linktype_for(ifname)])]


def list_data_link_types(args: argparse.Namespace) -> int:
    """-L: the interface's link types, as tcpdump lists them (on stderr)."""
    from ..io.live.errors import LiveCaptureError

    try:
        types = data_link_types(args.interface)
    except LiveCaptureError as err:
        print(f"fragpool capture: {one_line(err)}", file=sys.stderr)
        return 1
    lines = [f"Data link types for {args.interface} (use option -y to set):"]
    lines += [f"  {text}" for text in types]
    print("\n".join(lines), file=sys.stderr)  # where tcpdump -L prints them
    return 0


def run_live(args: argparse.Namespace, expr: str | None) -> int:
    """`fragpool capture -i IF ...`: capture until -c N, a signal or an error."""
    from ..io.bpf import FilterError
    from ..io.live.capture import open_live
    from ..io.live.errors import LiveCaptureError
    from ._capture_loop import consume, open_savefiles

    if args.list_datalinks:
        return list_data_link_types(args)
    opts = live_options(args, expr)
    if isinstance(opts, str):
        args.parser.error(opts)
    if args.datalink is not None:
        from ..io.live.errors import LiveCaptureError

        try:
            types = data_link_types(args.interface)
        except LiveCaptureError as err:
            print(f"fragpool capture: {one_line(err)}", file=sys.stderr)
            return 1
        if args.datalink.upper() not in [t.split()[0] for t in types]:
            args.parser.error(
                f"-y {args.datalink}: {args.interface} is captured as {', '.join(types)} "
                "(-L lists its link types)"
            )
    try:
        cap = open_live(args.interface, **opts)
    except (LiveCaptureError, FilterError, OSError) as err:
        print(f"fragpool capture: {one_line(err)}", file=sys.stderr)
        return 1
    if args.user:  # -Z: the socket is open; read and write as USER from here on
        from ._privileges import drop_or_say

        if not drop_or_say(args.user, "capture"):
            cap.close()
            return 1
    from ..io.files.linktypes import describe

    print(
        f"fragpool capture: listening on {args.interface}, link-type {describe(cap.linktype)}, "
        f"snapshot length {cap.snaplen} bytes",
        file=sys.stderr,
    )
    try:
        saved = open_savefiles(args, cap.linktype, cap.snaplen) if args.write else None
    except SaveFileError as err:
        cap.close()
        print(f"fragpool capture: {err}", file=sys.stderr)
        return 1
    with Progress() as bar:
        downs = [0]

        outgoing_only = args.direction == "out"

        def next_batch(budget: int) -> list:
            batch = cap.recv_batch(budget, POLL)
            if outgoing_only:  # -Q out: the frames this host sent (PACKET_OUTGOING)
                batch = keep_outgoing(batch)
            seen = getattr(cap, "link_downs", 0)
            if seen != downs[0]:  # said once a flap, as the capture goes on
                downs[0] = seen
                line = f"link on {args.interface} went down; still capturing (until it is up)"
                print(f"fragpool capture: {line}", file=sys.stderr)
            return batch

        def progress(n: int) -> None:
            if bar.due():
                bar.update(f"{n} packets captured, {cap.stats()['drops']} dropped by kernel")

        stream = None
        if args.json:
            head = {"source": "interface", "interface": args.interface, "mode": args.mode,
                    "linktype": cap.linktype}  # fmt: skip
            stream = JsonStream(sys.stdout, head, lines=args.json_lines, records=saved is None)
        try:
            sink = stream.record if stream is not None and saved is None else None
            n, error = consume(args, next_batch, saved, sink, progress, live=True)
        finally:
            stats = dict(cap.stats())
            cap.close()
    if stream is not None:
        tail: dict = {"packets": n, "stats": stats}
        if saved is not None:
            tail["written"] = args.write
        stream.finish(tail, error)
    else:
        sys.stdout.flush()
        if saved is not None and not error:
            where = "standard output" if args.write == "-" else ", ".join(saved.names)
            print(f"{n} packets written to {where}", file=sys.stderr)
        print(f"{n} packets captured", file=sys.stderr)
        print(f"{stats['packets']} packets received by filter", file=sys.stderr)
        print(f"{stats['drops']} packets dropped by kernel", file=sys.stderr)
        if stats.get("buffer_cut"):
            cut = stats["buffer_cut"]
            why = "the MTU grew during the capture; the buffers grew after the first"
            print(f"{cut} packets cut to the receive buffer ({why})", file=sys.stderr)
        if error:
            print(f"fragpool capture: {error}", file=sys.stderr)
    return 1 if error else 0
