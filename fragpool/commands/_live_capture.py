"""The live half of `fragpool capture`: ``-i IF`` through open_live, tcpdump-like.

``fragpool capture -i IF [--mode recv_into|recvmmsg|tpacket_v3] [-w OUT] [-c N]
[-s SNAPLEN] [--filter EXPR] [--promisc] [--json]``. Packets are printed one line each, or
written with ``-w`` (pcap, or pcapng when OUT ends in .pcapng) through the capture writer.
A terminal shows a live count of packets and kernel drops; piped output stays quiet. The
capture ends after ``-c N`` packets, on SIGINT/SIGTERM (Ctrl-C), or on an error; in every
case the ``-w`` file is closed complete (a signal only sets a flag, so no record is cut in
half) and the kernel's counts are reported on stderr, as tcpdump does.

Bad input (a missing interface, no permission, a filter that does not compile, a ring too
large for memory) gives one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import Any

from ..progress import Progress
from ._output import emit_json, json_record, summary, timestr

BATCH = 64
POLL = 0.2  # seconds per wait, so a signal or -c ends the loop promptly


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The live-capture options of `fragpool capture`."""
    parser.add_argument("-i", dest="interface", metavar="IF", help="capture live on IF")
    parser.add_argument(
        "--mode",
        choices=("recv_into", "recvmmsg", "tpacket_v3"),
        default="tpacket_v3",
        help="live receive path (default tpacket_v3)",
    )
    parser.add_argument(
        "-s", dest="snaplen", type=int, metavar="SNAPLEN", help="bytes kept per packet (live)"
    )
    parser.add_argument("--filter", metavar="EXPR", help="tcpdump filter expression (live)")
    parser.add_argument("--promisc", action="store_true", help="promiscuous mode (live)")


class _Stop:
    """SIGINT/SIGTERM set a flag the loop checks between batches (no KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.signum = 0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def _handler(self, signum: int, _frame: Any) -> None:
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _one_line(err: BaseException) -> str:
    text = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    if isinstance(err, OSError) and err.filename and err.filename not in text:
        text = f"{err.filename}: {text}"
    return " ".join(text.split())


def run_live(args: argparse.Namespace) -> int:
    """`fragpool capture -i IF ...`: capture until -c N, a signal or an error."""
    from ..io.files.writer import open_dump
    from ..io.live.capture import open_live
    from ..io.live.errors import LiveCaptureError

    opts: dict[str, Any] = {"mode": args.mode, "promisc": args.promisc, "filter": args.filter}
    if args.snaplen is not None:
        opts["snaplen"] = args.snaplen
    if args.count is not None and args.count < 1:
        print(f"fragpool capture: -c {args.count}: the count must be >= 1", file=sys.stderr)
        return 1
    try:
        cap = open_live(args.interface, **opts)
    except (LiveCaptureError, OSError) as err:
        print(f"fragpool capture: {_one_line(err)}", file=sys.stderr)
        return 1
    writer = None
    if args.write:
        try:
            writer = open_dump(args.write, cap.linktype)
        except (OSError, ValueError) as err:
            cap.close()
            print(f"fragpool capture: {_one_line(err)}", file=sys.stderr)
            return 1
    limit = args.count
    records: list[dict] = []
    error: str | None = None
    n = 0
    out = sys.stdout
    with _Stop() as stop, Progress() as progress:
        try:
            while not stop.signum and (limit is None or n < limit):
                budget = BATCH if limit is None else min(BATCH, limit - n)
                batch = cap.recv_batch(budget, POLL)
                for skb in batch:
                    n += 1
                    if writer is not None:
                        writer.write(skb)
                    elif args.json:
                        records.append(json_record(n, skb))
                    else:
                        line = summary(bytes(skb), skb.linktype, skb.wire_len)
                        out.write(f"{timestr(skb.tstamp)} {line}\n")
                    skb.free()
                if progress.due():
                    st = cap.stats()
                    progress.update(f"{n} packets captured, {st['drops']} dropped by kernel")
        except (LiveCaptureError, OSError) as err:
            error = _one_line(err)
        finally:
            if writer is not None:
                with contextlib.suppress(OSError):
                    writer.close()
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
        emit_json(out, doc, error, records if writer is None else None, args.write)
    else:
        out.flush()
        if writer is not None:
            print(f"{n} packets written to {args.write}", file=sys.stderr)
        print(f"{n} packets captured", file=sys.stderr)
        print(f"{stats['packets']} packets received by filter", file=sys.stderr)
        print(f"{stats['drops']} packets dropped by kernel", file=sys.stderr)
        if error:
            print(f"fragpool capture: {error}", file=sys.stderr)
    return 1 if error else 0
