# cython: boundscheck=False, wraparound=False
# (Cython's index checks are dropped only here: every index is a program counter that the
# checker proved lands inside the program, or a scratch cell it proved is below 16.)
"""fragpool's classic-BPF interpreter: libpcap's ``bpf_filter`` over an skb's bytes.

Run where a program cannot be attached to a socket: offline reads, and sources whose kernel
path has no socket filter. It computes what libpcap's ``pcap_offline_filter`` computes
(and what the kernel's classic-BPF run computes on a linear skb): A and X are u32, a load
that reaches past the captured bytes (``buflen``) ends the program with 0, ``ld #len``
reads the length on the wire, a division or modulo by X = 0 returns 0, a shift by X of 32
or more leaves 0. Scratch memory starts zeroed. Negative (ancillary, SKF_AD_*) offsets are
out of range here, as in libpcap without aux data.

The switch is on the full opcode, as in the kernel's and libpcap's interpreters; the
program was checked when it was built (program.check), so every jump lands inside it and
the last instruction returns. Compiled, the loop is C: the program's arrays are typed
memoryviews and each packet byte is one load from the skb's buffer.
"""

from __future__ import annotations

import ctypes
from typing import Any

from ... import _native
from ...skb.skbuff import SkBuff
from .program import Program

_U32 = 0xFFFFFFFF


def run(prog: Program, mv: Any, mbase: int, data: int, buflen: int, wirelen: int) -> int:
    """Run ``prog`` over the ``buflen`` bytes at address ``data`` of buffer ``mv`` (whose
    first byte is at ``mbase``); ``wirelen`` is the packet's length on the wire. Returns
    the program's result: 0 drops the packet, anything else accepts that many bytes."""
    code = prog.code
    jts = prog.jt
    jfs = prog.jf
    ks = prog.k
    a = 0
    x = 0
    mem = [0] * 16
    pc = 0
    while True:
        op = code[pc]
        k = ks[pc]
        if op == 0x28:  # ldh [k]
            off = k
            if off + 2 > buflen:
                return 0
            a = _native.byte_at(mv, mbase, data + off) << 8 | _native.byte_at(
                mv, mbase, data + off + 1
            )
        elif op == 0x15:  # jeq #k
            pc += jts[pc] if a == k else jfs[pc]
        elif op == 0x30:  # ldb [k]
            off = k
            if off >= buflen:
                return 0
            a = _native.byte_at(mv, mbase, data + off)
        elif op == 0x06:  # ret #k
            return k
        elif op == 0x20:  # ld [k]
            off = k
            if off + 4 > buflen:
                return 0
            a = _word(mv, mbase, data + off)
        elif op == 0x45:  # jset #k
            pc += jts[pc] if a & k else jfs[pc]
        elif op == 0xB1:  # ldx 4*([k]&0xf)
            off = k
            if off >= buflen:
                return 0
            x = (_native.byte_at(mv, mbase, data + off) & 0xF) << 2
        elif op == 0x48:  # ldh [x + k]
            off = x  # widened before the add: x + k must not wrap
            off += k
            if off + 2 > buflen:
                return 0
            a = _native.byte_at(mv, mbase, data + off) << 8 | _native.byte_at(
                mv, mbase, data + off + 1
            )
        elif op == 0x50:  # ldb [x + k]
            off = x  # widened before the add: x + k must not wrap
            off += k
            if off >= buflen:
                return 0
            a = _native.byte_at(mv, mbase, data + off)
        elif op == 0x40:  # ld [x + k]
            off = x  # widened before the add: x + k must not wrap
            off += k
            if off + 4 > buflen:
                return 0
            a = _word(mv, mbase, data + off)
        elif op == 0x25:  # jgt #k
            pc += jts[pc] if a > k else jfs[pc]
        elif op == 0x35:  # jge #k
            pc += jts[pc] if a >= k else jfs[pc]
        elif op == 0x54:  # and #k
            a = a & k
        elif op == 0x05:  # ja
            pc += k
        elif op == 0x16:  # ret a
            return a
        elif op == 0x00:  # ld #k
            a = k
        elif op == 0x01:  # ldx #k
            x = k
        elif op == 0x80:  # ld #len
            a = wirelen & _U32
        elif op == 0x81:  # ldx #len
            x = wirelen & _U32
        elif op == 0x60:  # ld M[k]
            a = mem[k]
        elif op == 0x61:  # ldx M[k]
            x = mem[k]
        elif op == 0x02:  # st M[k]
            mem[k] = a
        elif op == 0x03:  # stx M[k]
            mem[k] = x
        elif op == 0x07:  # tax
            x = a
        elif op == 0x87:  # txa
            a = x
        elif op == 0x1D:  # jeq x
            pc += jts[pc] if a == x else jfs[pc]
        elif op == 0x2D:  # jgt x
            pc += jts[pc] if a > x else jfs[pc]
        elif op == 0x3D:  # jge x
            pc += jts[pc] if a >= x else jfs[pc]
        elif op == 0x4D:  # jset x
            pc += jts[pc] if a & x else jfs[pc]
        elif op == 0x04:  # add #k
            a = (a + k) & _U32
        elif op == 0x0C:  # add x
            a = (a + x) & _U32
        elif op == 0x14:  # sub #k
            a = (a - k) & _U32
        elif op == 0x1C:  # sub x
            a = (a - x) & _U32
        elif op == 0x24:  # mul #k
            a = (a * k) & _U32
        elif op == 0x2C:  # mul x
            a = (a * x) & _U32
        elif op == 0x34:  # div #k (k != 0: checked)
            a = a // k
        elif op == 0x3C:  # div x
            if x == 0:
                return 0
            a = a // x
        elif op == 0x94:  # mod #k (k != 0: checked)
            a = a % k
        elif op == 0x9C:  # mod x
            if x == 0:
                return 0
            a = a % x
        elif op == 0x5C:  # and x
            a = a & x
        elif op == 0x44:  # or #k
            a = a | k
        elif op == 0x4C:  # or x
            a = a | x
        elif op == 0xA4:  # xor #k
            a = a ^ k
        elif op == 0xAC:  # xor x
            a = a ^ x
        elif op == 0x64:  # lsh #k (k < 32: checked)
            a = (a << k) & _U32
        elif op == 0x6C:  # lsh x
            a = (a << x) & _U32 if x < 32 else 0
        elif op == 0x74:  # rsh #k (k < 32: checked)
            a = a >> k
        elif op == 0x7C:  # rsh x
            a = a >> x if x < 32 else 0
        elif op == 0x84:  # neg
            a = (0 - a) & _U32
        else:  # unreachable for a checked program
            return 0
        pc += 1


def _word(mv: Any, mbase: int, addr: int) -> int:
    """The big-endian u32 at ``addr`` (the caller checked its four bytes)."""
    return (
        _native.byte_at(mv, mbase, addr) << 24
        | _native.byte_at(mv, mbase, addr + 1) << 16
        | _native.byte_at(mv, mbase, addr + 2) << 8
        | _native.byte_at(mv, mbase, addr + 3)
    )


def filter_skb(prog: Program, skb: SkBuff) -> int:
    """The program's verdict on an skb's bytes (its wire length for ``ld #len``); an skb with
    frags is run over a linear copy, as the kernel's loads read through skb_header_pointer."""
    wirelen = skb.wire_len or skb.len
    if not skb.data_len:
        if not skb._live:
            skb._check()
        return run(prog, skb._mv, skb._mbase, skb.data, skb.len, wirelen)
    return filter_bytes(prog, bytes(skb), wirelen)


def filter_run(
    prog: Program, skbs: list[SkBuff], start: int, kept: list[SkBuff]
) -> tuple[int, int]:
    """Run ``prog`` over ``skbs[start:]`` while their link type is the program's: the accepted
    go to ``kept``, the others are freed. Returns (the index it stopped at, how many were
    dropped). A capture file's filter loop, one C call per batch when compiled."""
    dropped = 0
    n = len(skbs)
    linktype = prog.linktype
    i = start
    while i < n:
        skb = skbs[i]
        if skb.linktype != linktype:
            break
        if filter_skb(prog, skb):
            kept.append(skb)
        else:
            skb.free()
            dropped += 1
        i += 1
    return i, dropped


def filter_bytes(prog: Program, data: bytes, wire_len: int | None = None) -> int:
    """The program's verdict on a packet given as bytes (``wire_len`` defaults to their length)."""
    n = len(data)
    buf = (ctypes.c_ubyte * max(n, 1)).from_buffer_copy(bytes(data) or b"\0")
    mv = memoryview(buf).cast("B")
    base = ctypes.addressof(buf)
    return run(prog, mv, base, base, n, n if wire_len is None else wire_len)
