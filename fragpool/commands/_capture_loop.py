"""The capture loop `fragpool capture` runs on a file and on an interface alike.

Batches come from the source until -c N, the source's end, a signal or an error; each
packet is saved (-w), recorded (--json) or printed, then freed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..skb import kfree_skb_list
from ._output import PacketPrinter, Stop, json_record, one_line
from ._savefile import FileLimitReached, SaveFileError, SaveFiles

BATCH = 64


def open_savefiles(
    args: argparse.Namespace, linktype: int, snaplen: int, like: Any = None
) -> SaveFiles:
    """The -w output with its rotation options."""
    return SaveFiles(
        args.write,
        linktype,
        snaplen=snaplen,
        like=like,
        file_size=args.file_size,
        file_count=args.file_count,
        rotate_seconds=args.rotate_seconds,
        packet_buffered=getattr(args, "packet_buffered", False),
        nanosecond=getattr(args, "nano", False),
    )


def consume(
    args: argparse.Namespace,
    next_batch: Callable[[int], list | None],
    saved: SaveFiles | None,
    records: Callable[[dict], None] | None,
    progress: Callable[[int], None],
    *,
    live: bool = False,
) -> tuple[int, str | None]:
    """The capture loop both sources share: take batches until -c N, the end (``None``), a
    signal or an error; write, print or record each packet and free it. Returns (packets
    handled, the error's one line or None). ``live``: the lines of each batch are written
    as it ends (a file's gather in a buffer)."""
    printing = getattr(args, "print_too", False)  # --print: lines printed with -w too
    printer = None
    if (saved is None or printing) and records is None and not getattr(args, "count_only", False):
        printer = PacketPrinter(args, sys.stdout)
    each_line = getattr(args, "line_buffered", False)  # -l
    limit = args.count
    n = 0
    with Stop() as stop:
        try:
            while not stop.signum and (limit is None or n < limit):
                batch = next_batch(BATCH if limit is None else min(BATCH, limit - n))
                if batch is None:
                    break
                if saved is not None and printer is None and records is None:
                    # only saved: the batch goes to the writer at once
                    written = saved.packets
                    try:
                        saved.write_batch(batch)
                    finally:
                        kfree_skb_list(batch)
                        n += saved.packets - written
                    progress(n)
                    continue
                for i, skb in enumerate(batch):
                    try:
                        if saved is not None:
                            saved.write(skb)
                        if records is not None:
                            records(json_record(n + 1, skb))
                        elif printer is not None:
                            printer.print(skb)
                            if each_line:
                                printer.flush()
                    except BaseException:
                        for rest in batch[i + 1 :]:
                            rest.free()
                        raise
                    finally:
                        skb.free()
                    n += 1
                if printer is not None:
                    printer.flush(live)
                elif records is not None:
                    sys.stdout.flush()  # JSON as the packets come, a batch at a time
                progress(n)
        except FileLimitReached as done:
            print(f"fragpool capture: {done}", file=sys.stderr)
        except BrokenPipeError:  # whoever read our stdout stopped: end quietly (cli.main)
            raise
        except (SaveFileError, OSError, ValueError) as err:
            return n, one_line(err)
        finally:
            if printer is not None:
                printer.flush()  # the lines of a batch an error or a signal cut short
            if saved is not None:
                try:
                    saved.close()
                except SaveFileError as err:
                    return n, str(err)
    return n, None
