"""`fragpool capture`: read packets from a file or an interface; print, save or count them.

tcpdump's habits: ``fragpool capture -r FILE [EXPRESSION ...]`` or ``-i IF``, a filter as
trailing words or ``--filter EXPR`` (compiled by libpcap, run by fragpool on files and by
the kernel on sockets), ``-r -`` reading standard input (gzip'd or not), ``-w OUT`` saving
(``-w -``: standard output, nothing else written there), ``-C/-W/-G`` rotating the saved
file, ``-c N``, ``-F FILE``, ``--count``, and tcpdump's output options for the lines printed
without ``-w`` (or with ``--print``): ``-n``, ``-e``, ``-q``, ``-t``..``-ttttt``,
``-x``/``-xx``/``-X``/``-XX``/``-A``, ``-S``, ``-#``, ``--nano``, ``-l``, ``-v`` (scapy's summary
too). ``--json`` prints one JSON document instead, written as it goes; ``--json-lines`` one
object a line. ``-D`` lists the interfaces. The first line on stderr says what is read,
as tcpdump's does.

Bad input (a missing file, a filter that does not compile, an output file that cannot be
written) is one line on stderr and exit status 1; bad arguments are argparse's usage error
for this subcommand (status 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..progress import Progress
from ._args import add_debug, positive
from ._capture_loop import consume, open_savefiles
from ._output import JsonStream, one_line
from ._savefile import SaveFileError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "capture",
        help="read packets from a capture file or an interface (tcpdump-like)",
        description="Read packets into pooled buffers; print them, save them or count them.",
        usage="%(prog)s (-r FILE | -i IF | -D) [options] [EXPRESSION ...]",
    )
    src = parser.add_argument_group("source and filter")
    src.add_argument(
        "-r", dest="read", metavar="FILE", help="read a pcap/pcapng(.gz) file; - is stdin"
    )
    src.add_argument("-D", dest="list_interfaces", action="store_true", help="list interfaces")
    src.add_argument("--filter", metavar="EXPR", help="tcpdump filter expression")
    src.add_argument(
        "expression", nargs="*", help="tcpdump filter expression (as tcpdump takes it)"
    )
    src.add_argument(
        "-c", dest="count", type=positive("-c"), metavar="N", help="stop after N packets"
    )
    src.add_argument(
        "--lenient", action="store_true", help="skip damaged records instead of stopping"
    )
    src.add_argument(
        "-F", dest="filter_file", metavar="FILE", help="read the filter expression from FILE"
    )
    src.add_argument(
        "-V", dest="file_list", metavar="FILE", help="(tcpdump's list of files: refused, see -r)"
    )
    src.add_argument(
        "--count",
        dest="count_only",
        action="store_true",
        help="with -r: print only how many packets (that the filter matched) the file has",
    )
    src.add_argument(
        "-K",
        "--dont-verify-checksums",
        dest="no_checksums",
        action="store_true",
        help="do not verify checksums (fragpool never does: accepted for tcpdump's sake)",
    )
    save = parser.add_argument_group("saving")
    save.add_argument(
        "-w", dest="write", metavar="OUT", help="write the packets to OUT; - is stdout"
    )
    src.add_argument(
        "-Z",
        dest="user",
        metavar="USER",
        help="once the socket (or input) is open, drop to USER before reading or writing",
    )
    save.add_argument(
        "-U",
        "--packet-buffered",
        dest="packet_buffered",
        action="store_true",
        help="with -w: write each packet to OUT as it comes, not a buffer at a time",
    )
    save.add_argument(
        "-C",
        dest="file_size",
        type=positive("-C"),
        metavar="SIZE",
        help="start a new -w file past SIZE millions of bytes",
    )
    save.add_argument(
        "-W",
        dest="file_count",
        type=positive("-W"),
        metavar="COUNT",
        help="with -C: a ring of COUNT files; with -G: stop after COUNT files",
    )
    save.add_argument(
        "-G",
        dest="rotate_seconds",
        type=positive("-G"),
        metavar="SECONDS",
        help="start a new -w file (a strftime pattern) every SECONDS",
    )
    out = parser.add_argument_group("printing (without -w)")
    out.add_argument(
        "-n",
        dest="numeric",
        action="count",
        default=0,
        help="numeric addresses and ports (fragpool never resolves names)",
    )
    out.add_argument("-e", dest="link", action="store_true", help="print the link-level header")
    out.add_argument("-q", dest="quiet", action="store_true", help="less protocol detail")
    out.add_argument(
        "-t",
        dest="tflag",
        action="count",
        default=0,
        help="-t none, -tt epoch, -ttt delta, -tttt date, -ttttt since first",
    )
    out.add_argument(
        "-x", dest="hex", action="count", default=0, help="hex dump (-xx: with the link header)"
    )
    out.add_argument(
        "-X",
        dest="hex_ascii",
        action="count",
        default=0,
        help="hex and ASCII dump (-XX: with the link header)",
    )
    out.add_argument("-A", dest="ascii", action="count", default=0, help="ASCII dump")
    out.add_argument("-v", dest="verbose", action="count", default=0, help="add scapy's summary")
    out.add_argument(
        "-S",
        "--absolute-tcp-sequence-numbers",
        dest="absolute",
        action="store_true",
        help="TCP sequence numbers as sent, not relative",
    )
    out.add_argument("-#", "--number", dest="number", action="store_true", help="number each line")
    out.add_argument(
        "-l",
        dest="line_buffered",
        action="store_true",
        help="write each line as it is printed (else a buffer's worth at a time, as stdio)",
    )
    out.add_argument(
        "--nano",
        dest="nano",
        action="store_true",
        help="nanosecond time stamps: printed with 9 digits, and -w writes a nanosecond pcap",
    )
    out.add_argument(
        "--time-stamp-precision",
        choices=("micro", "nano"),
        help="micro (the default) or nano, as --nano",
    )
    out.add_argument(
        "--print",
        dest="print_too",
        action="store_true",
        help="print the lines even with -w",
    )
    out.add_argument("--json", action="store_true", help="print one JSON document (streamed)")
    out.add_argument(
        "--json-lines",
        action="store_true",
        help="print one JSON object per packet per line, then a summary line",
    )
    add_debug(parser)
    from ._live_capture import add_arguments as add_live_arguments

    add_live_arguments(parser)  # -i IF and the live options
    parser.set_defaults(func=run, parser=parser)


def check_arguments(args: argparse.Namespace) -> str | None:
    """Refuse contradictory options (argparse's usage error); the filter expression or None."""
    parser: argparse.ArgumentParser = args.parser
    words = " ".join(args.expression)
    given = [w for w, v in (("--filter EXPR", args.filter), ("-F FILE", args.filter_file),
                            ("trailing words", words)) if v]  # fmt: skip
    if len(given) > 1:
        parser.error(f"give the filter once: as {' or '.join(given)}, not both")
    expr = args.filter if args.filter is not None else (words or None)
    if args.filter_file:
        try:
            with open(args.filter_file, encoding="utf-8") as f:
                lines = [line.split("#", 1)[0] for line in f]  # tcpdump's -F: # comments
        except (OSError, UnicodeDecodeError) as err:
            parser.error(f"-F {args.filter_file}: {one_line(err)}")
        expr = " ".join(" ".join(lines).split()) or None
    if args.time_stamp_precision == "nano":
        args.nano = True
    elif args.time_stamp_precision == "micro" and args.nano:
        parser.error("--nano and --time-stamp-precision=micro contradict each other")
    if args.json and args.json_lines:
        parser.error("--json prints one document, --json-lines one line a packet; give one")
    args.json = args.json or args.json_lines
    if args.count_only and not args.read:
        parser.error("--count counts the packets of a file: give -r FILE")
    if args.count_only and (args.write or args.json):
        parser.error("--count prints only the count; drop -w and --json")
    if args.print_too and not args.write:
        parser.error("--print prints the lines with -w; without -w they are printed anyway")
    if args.print_too and args.write == "-":
        parser.error("--print and -w - both write to standard output; give one")
    if args.file_list:
        parser.error(
            f"-V {args.file_list}: reading a list of files is not supported; run capture -r "
            "once per file, or merge them first (mergecap -w all.pcapng FILE ...)"
        )
    if args.read and args.interface:
        parser.error("-r and -i name two sources; give one")
    if (args.list_datalinks or args.datalink) and not args.interface:
        parser.error("-L and -y are about a live interface: give -i IF")
    if not (args.read or args.interface or args.list_interfaces):
        parser.error("give a source: -r FILE, -i IF (or -D to list interfaces)")
    if args.json and args.write == "-":
        parser.error("--json and -w - both write to standard output; give one")
    rotation = [f for f, v in (("-C", args.file_size), ("-G", args.rotate_seconds)) if v]
    if rotation and not args.write:
        parser.error(f"{rotation[0]} rotates the -w file; give -w OUT")
    if rotation and args.write == "-":
        parser.error(f"{rotation[0]} cannot rotate standard output")
    if args.file_count and not rotation:
        parser.error("-W needs -C or -G")
    if args.json and (args.hex or args.hex_ascii or args.ascii):
        parser.error("--json prints no dumps; drop -x/-X/-A or --json")
    return expr


def list_interfaces(out: Any) -> int:
    """-D: one line per interface, as tcpdump lists them (number, name, flags)."""
    from pathlib import Path

    rows = []
    for path in Path("/sys/class/net").iterdir():
        try:
            index = int((path / "ifindex").read_text())
            flags = int((path / "flags").read_text(), 16)
            carrier = (path / "operstate").read_text().strip()
        except (OSError, ValueError):
            continue
        words = [w for bit, w in ((0x1, "Up"), (0x40, "Running"), (0x8, "Loopback")) if flags & bit]
        if not flags & 0x8:
            words.append("Connected" if carrier == "up" else "Disconnected")
        rows.append((index, path.name, words))
    for number, (_index, name, words) in enumerate(sorted(rows), 1):
        out.write(f"{number}.{name} [{', '.join(words)}]\n")
    return 0


def run(args: argparse.Namespace) -> int:
    expr = check_arguments(args)
    if args.list_interfaces:
        return list_interfaces(sys.stdout)
    if args.interface:
        from ._live_capture import run_live

        return run_live(args, expr)
    return run_file(args, expr)


def run_file(args: argparse.Namespace, expr: str | None) -> int:
    """`fragpool capture -r FILE|- ...`."""
    from ..io.bpf import FilterError
    from ..io.files.errors import CaptureFormatError
    from ..io.files.reader import open_offline

    source: Any = sys.stdin.buffer if args.read == "-" else args.read
    try:
        src = open_offline(source, strict=not args.lenient, filter=expr)
    except (CaptureFormatError, FilterError, OSError) as err:
        print(f"fragpool capture: {one_line(err)}", file=sys.stderr)
        return 1
    if args.user:  # -Z: the input is open; write as USER from here on
        from ._privileges import drop_or_say

        if not drop_or_say(args.user, "capture"):
            src.close()
            return 1
    from ..io.files.linktypes import describe

    shown = "standard input" if args.read == "-" else args.read
    print(
        f"reading from file {'-' if args.read == '-' else args.read}, link-type "
        f"{describe(src.linktype)}, snapshot length {src.snaplen}",
        file=sys.stderr,
    )
    total = os.path.getsize(args.read) if args.read != "-" and os.path.isfile(args.read) else 0
    stream = None
    if args.json:
        head = {"source": shown, "linktype": src.linktype}
        stream = JsonStream(sys.stdout, head, lines=args.json_lines, records=not args.write)
    with src, Progress() as bar:
        saved = None
        if args.write:
            # a copy keeps the input's pcap header unless the precision changes (tcpdump
            # writes microseconds unless told --nano)
            same = getattr(src.fmt, "nanosecond", False) == args.nano
            like = src if hasattr(src.fmt, "file_header") and same else None
            try:
                saved = open_savefiles(args, src.linktype, src.snaplen, like)
            except SaveFileError as err:
                print(f"fragpool capture: {err}", file=sys.stderr)
                return 1

        def next_batch(budget: int) -> list | None:
            return src.read_batch(budget) or None

        def progress(n: int) -> None:
            if bar.due():
                done = getattr(src, "bytes_read", 0)
                pct = f" ({100 * done / total:.0f}%)" if total else ""
                bar.update(f"{n} packets{pct}")

        # damage in the file ends the loop as an error, once every good packet was handled
        sink = stream.record if stream is not None and not args.write else None
        n, error = consume(args, next_batch, saved, sink, progress)
        stats = dict(src.stats())
    if stream is not None:
        tail: dict = {"packets": n, "stats": stats}
        if args.write:
            tail["written"] = args.write
        stream.finish(tail, error)
    elif args.count_only:
        sys.stdout.write(f"{n} packet{'' if n == 1 else 's'}\n")
        if error:
            print(f"fragpool capture: {error}", file=sys.stderr)
    else:
        sys.stdout.flush()
        if saved is not None and not error:
            where = "standard output" if args.write == "-" else ", ".join(saved.names)
            print(f"{n} packets written to {where}", file=sys.stderr)
        if error:
            print(f"fragpool capture: {error}", file=sys.stderr)
    return 1 if error else 0
