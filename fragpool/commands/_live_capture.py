"""The live half of `fragpool capture`: ``-i IF`` through open_live, tcpdump-like.

``fragpool capture -i IF [--mode recv_into|recvmmsg|tpacket_v3] [-w OUT [-C/-W/-G]] [-c N]
[-s SNAPLEN] [--promisc] [EXPRESSION | --filter EXPR] [--json]``. Packets are printed as
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
from ._output import emit_json, one_line
from ._savefile import SaveFileError

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
    live.add_argument("--promisc", action="store_true", help="promiscuous mode (live)")


def run_live(args: argparse.Namespace, expr: str | None) -> int:
    """`fragpool capture -i IF ...`: capture until -c N, a signal or an error."""
    from ..io.bpf import FilterError
    from ..io.live.capture import open_live
    from ..io.live.errors import LiveCaptureError
    from ._capture_loop import consume, open_savefiles

    opts: dict[str, Any] = {"mode": args.mode, "promisc": args.promisc, "filter": expr}
    if args.snaplen is not None:
        opts["snaplen"] = args.snaplen
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
    records: list[dict] = []
    try:
        saved = open_savefiles(args, cap.linktype, cap.snaplen) if args.write else None
    except SaveFileError as err:
        cap.close()
        print(f"fragpool capture: {err}", file=sys.stderr)
        return 1
    with Progress() as bar:
        downs = [0]

        def next_batch(budget: int) -> list:
            batch = cap.recv_batch(budget, POLL)
            seen = getattr(cap, "link_downs", 0)
            if seen != downs[0]:  # said once a flap, as the capture goes on
                downs[0] = seen
                line = f"link on {args.interface} went down; still capturing (until it is up)"
                print(f"fragpool capture: {line}", file=sys.stderr)
            return batch

        def progress(n: int) -> None:
            if bar.due():
                bar.update(f"{n} packets captured, {cap.stats()['drops']} dropped by kernel")

        try:
            n, error = consume(args, next_batch, saved, records, progress)
        finally:
            stats = dict(cap.stats())
            cap.close()
    if args.json:
        doc = {
            "source": "interface",
            "interface": args.interface,
            "mode": args.mode,
            "linktype": cap.linktype,
            "packets": n,
            "stats": stats,
        }
        emit_json(sys.stdout, doc, error, records if saved is None else None, args.write)
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
