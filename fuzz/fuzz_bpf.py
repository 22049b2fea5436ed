"""Fuzz target: the classic-BPF checker and fragpool's interpreter on (program, packet).

The input is cut into a program (8-byte sock_filter instructions) and a packet. A program
the checker refuses must raise FilterError; one it accepts must give, on the packet, the
verdict libpcap's own interpreter (bpf_filter, through pcap_offline_filter) gives: an
independent implementation of the same semantics.
"""

from __future__ import annotations

import struct
import sys

from fragpool.io.bpf import FilterError, Program
from fragpool.io.bpf.interp import filter_bytes
from fragpool.io.bpf.libpcap import offline_filter


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    if len(data) < 2:
        return
    n = min(data[0] % 24 + 1, (len(data) - 1) // 8)
    insns = [struct.unpack_from("=HBBI", data, 1 + 8 * i) for i in range(n)]
    packet = data[1 + 8 * n :]
    wire = len(packet) + (data[0] >> 5) * 100
    try:
        prog = Program(insns)
    except FilterError:
        return
    ours = filter_bytes(prog, packet, wire)
    theirs = offline_filter(prog, packet, wire)
    if ours != theirs:
        raise AssertionError(f"{insns} on {packet.hex()} (wire {wire}): {ours} vs libpcap {theirs}")


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()  # the Python code's coverage too (the C is clang's)
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
