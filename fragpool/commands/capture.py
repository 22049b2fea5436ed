"""`fragpool capture`: read packets from a source and print, save or count them, tcpdump-like.

``fragpool capture -r FILE [-w OUT] [-c N] [--json]``. A source is anything that opens to
an iterator of skbs with ``read_batch``, ``linktype``, ``stats()`` and ``close()``; the
``SOURCES`` table maps an option to the function opening it, so a live source (``-i IF``)
plugs in beside the file source. Without ``-w`` each packet gets one line (time, summary,
length); with ``-w`` packets are written and only a count is reported; ``--json`` prints
one JSON document instead. A progress line shows on a terminal while a long file is read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from ..progress import Progress
from ._output import emit_json, json_record, summary, timestr

BATCH = 64


def open_file_source(args: argparse.Namespace) -> Any:
    """The -r source: a capture file read into pool pages."""
    from ..io.files.reader import open_offline

    return open_offline(args.read, strict=not args.lenient)


#: option attribute -> opener; the first one given on the command line is used.
SOURCES: dict[str, Callable[[argparse.Namespace], Any]] = {"read": open_file_source}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "capture",
        help="read packets from a capture file (tcpdump-like)",
        description="Read packets into pooled buffers; print them, save them or count them.",
    )
    parser.add_argument("-r", dest="read", metavar="FILE", help="read a pcap/pcapng(.gz) file")
    parser.add_argument("-w", dest="write", metavar="OUT", help="write the packets to OUT")
    parser.add_argument("-c", dest="count", type=int, metavar="N", help="stop after N packets")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--lenient", action="store_true", help="skip damaged records instead of stopping"
    )
    from ._live_capture import add_arguments as add_live_arguments

    add_live_arguments(parser)  # -i IF and the live options; run_live handles them
    parser.set_defaults(func=run)


def _source(args: argparse.Namespace) -> Any:
    for attr, opener in SOURCES.items():
        if getattr(args, attr, None):
            return opener(args)
    raise SystemExit("fragpool capture: give a source (-r FILE)")


def _writer(args: argparse.Namespace, src: Any) -> Any:
    from ..io.files.writer import PcapWriter, open_dump

    out = args.write
    fmt = getattr(src, "fmt", None)
    if not out.endswith(".pcapng") and hasattr(fmt, "file_header"):
        return PcapWriter.like(src, out)  # same header: the copy is byte-identical
    return open_dump(out, src.linktype)


def run(args: argparse.Namespace) -> int:
    from ..io.files.errors import CaptureFormatError

    if getattr(args, "interface", None):
        from ._live_capture import run_live

        return run_live(args)
    try:
        src = _source(args)
    except (CaptureFormatError, OSError) as err:
        print(f"fragpool capture: {err}", file=sys.stderr)
        return 1
    writer = _writer(args, src) if args.write else None
    total = os.path.getsize(args.read) if getattr(args, "read", None) else 0
    limit = args.count
    records: list[dict] = []
    error: str | None = None
    n = 0
    out = sys.stdout
    with src, Progress() as progress:
        try:
            while limit is None or n < limit:
                batch = src.read_batch(BATCH if limit is None else min(BATCH, limit - n))
                if not batch:
                    break
                for skb in batch:
                    n += 1
                    if writer is not None:
                        writer.write(skb)
                    elif args.json:
                        records.append(json_record(n, skb))
                    else:
                        data = bytes(skb)
                        line = summary(data, skb.linktype, skb.wire_len)
                        out.write(f"{timestr(skb.tstamp)} {line}\n")
                    skb.free()
                if progress.due():
                    done = getattr(src, "bytes_read", 0)
                    pct = f" ({100 * done / total:.0f}%)" if total else ""
                    progress.update(f"{n} packets{pct}")
        except CaptureFormatError as err:
            error = str(err)
        finally:
            if writer is not None:
                writer.close()
        stats = dict(src.stats())
    if args.json:
        doc = {"source": args.read, "linktype": src.linktype, "packets": n, "stats": stats}
        emit_json(out, doc, error, records if writer is None else None, args.write)
    else:
        if writer is not None:
            print(f"{n} packets written to {args.write}", file=sys.stderr)
        if error:
            print(f"fragpool capture: {error}", file=sys.stderr)
    return 1 if error else 0
