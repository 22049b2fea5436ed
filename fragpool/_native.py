"""Integers out of received bytes: C loads when compiled, struct when interpreted.

The only module with ``cython.compiled`` branches (DESIGN.md, "Compiled core"): C reads a
u32 straight out of a buffer, Python needs struct. A caller takes ``buffer_address(buf)``
once (a ``const unsigned char *`` compiled, the buffer itself interpreted) and passes it
with an offset it has already checked against the buffer's length: these loads do not
check bounds themselves.
"""

from __future__ import annotations

import ctypes
import struct
import sys
from threading import get_ident

try:
    import cython
except ImportError:  # interpreted without Cython installed
    from . import _cython_shim as cython

_U32X4 = (struct.Struct("<IIII").unpack_from, struct.Struct(">IIII").unpack_from)
_U32 = (struct.Struct("<I").unpack_from, struct.Struct(">I").unpack_from)
_U16 = (struct.Struct("<H").unpack_from, struct.Struct(">H").unpack_from)
#: tpacket3_hdr through tp_vlan_tci, then sockaddr_ll's sll_pkttype (TPACKET_ALIGN'd at 48).
_TPACKET3 = struct.Struct("=IIIIIIH6xI4x18xB").unpack_from
_BIG = sys.byteorder == "big"
#: recvmmsg's per-slot msg_controllen and msg_len; the usual control messages' fields.
_MSG_RESULT = struct.Struct("=Q8xI").unpack_from
_CTRL_USUAL = struct.Struct("=8xQqq8xQII8xHH").unpack_from


def buffer_address(buf):  # noqa: ANN001, ANN201 - a C pointer when compiled
    """What the loads below read from: the start of ``buf`` (compiled) or ``buf`` itself."""
    if cython.compiled:
        view = buf
        if view.shape[0] == 0:
            raise ValueError("no bytes to read from an empty buffer")
        return cython.address(view[0])
    return buf


def u32x4(p, at: int, big: bool) -> tuple[int, int, int, int]:  # noqa: ANN001
    """Four consecutive u32s at ``at`` (a pcap record header), big- or little-endian."""
    if cython.compiled:
        return (
            load32(p, at, big),
            load32(p, at + 4, big),
            load32(p, at + 8, big),
            load32(p, at + 12, big),
        )
    return _U32X4[big](p, at)


def u32(p, at: int, big: bool) -> int:  # noqa: ANN001
    """The u32 at ``at``."""
    if cython.compiled:
        return load32(p, at, big)
    return _U32[big](p, at)[0]


def u16(p, at: int, big: bool) -> int:  # noqa: ANN001
    """The u16 at ``at``."""
    if cython.compiled:
        v = p[at] | p[at + 1] << 8
        if big:
            v = (v >> 8) | ((v & 0xFF) << 8)
        return v
    return _U16[big](p, at)[0]


def byte_at(mv, mbase: int, addr: int) -> int:  # noqa: ANN001
    """The byte at address ``addr`` of the live buffer ``mv`` (whose first byte is at
    ``mbase``); the caller has checked that ``addr`` lies inside it."""
    if cython.compiled:
        return cython.cast(cython.p_uchar, addr)[0]
    return mv[addr - mbase]


def tpacket3_hdr(p, at: int) -> tuple[int, int, int, int, int, int, int, int, int]:  # noqa: ANN001
    """The tpacket3_hdr fields a ring walk uses, at ``at`` (native byte order):
    (tp_next_offset, tp_sec, tp_nsec, tp_snaplen, tp_len, tp_status, tp_mac, tp_vlan_tci,
    the sockaddr_ll's sll_pkttype). The caller checked that 59 bytes lie at ``at``."""
    if cython.compiled:
        return (
            load32(p, at, _BIG), load32(p, at + 4, _BIG), load32(p, at + 8, _BIG),
            load32(p, at + 12, _BIG), load32(p, at + 16, _BIG), load32(p, at + 20, _BIG),
            u16(p, at + 24, _BIG), load32(p, at + 32, _BIG), p[at + 58],
        )  # fmt: skip
    return _TPACKET3(p, at)


Slot = tuple[int, int, int, int, int, int, int, int, int, int]


def mmsg_usual(pm, moff: int, pc, coff: int) -> Slot:  # noqa: ANN001
    """One recvmmsg slot's results, read as if it holds the usual two control messages:
    (msg_controllen, msg_len) at ``moff`` of the mmsghdr array ``pm``, then (the first
    cmsg's level | type << 32, tv_sec, tv_nsec, the second's key, tp_status, tp_len,
    tp_vlan_tci, tp_vlan_tpid) at ``coff`` of the control buffers ``pc`` (native byte
    order). The caller checked the slots lie inside both buffers and compares the keys."""
    if cython.compiled:
        return (
            load64(pm, moff), load32(pm, moff + 16, _BIG),
            load64(pc, coff + 8), load64(pc, coff + 16), load64(pc, coff + 24),
            load64(pc, coff + 40), load32(pc, coff + 48, _BIG), load32(pc, coff + 52, _BIG),
            u16(pc, coff + 64, _BIG), u16(pc, coff + 66, _BIG),
        )  # fmt: skip
    return _MSG_RESULT(pm, moff) + _CTRL_USUAL(pc, coff)


_XDP_DESC = struct.Struct("=QII").unpack_from
_U64_PUT = struct.Struct("=Q").pack_into


def mapped_address(view) -> int:  # noqa: ANN001
    """Where the ring helpers below find ``view``'s first byte: its address compiled, 0
    interpreted (the helpers then index ``view`` itself)."""
    if cython.compiled:
        return cython.cast(cython.Py_ssize_t, buffer_address(view))
    return 0


def ring_index(words, at: int, base: int) -> int:  # noqa: ANN001
    """The producer or consumer index at byte ``at`` of a mapped AF_XDP ring (``words``,
    its u32 view; ``base``, mapped_address of it): a load-acquire, so what the other side
    wrote before publishing the index is visible after it (AF_XDP.md, gotcha 13)."""
    if cython.compiled:
        return fp_load_acquire_u32(base + at)  # noqa: F821 - declared in _native.pxd
    return words[at >> 2]


def set_ring_index(words, at: int, base: int, value: int) -> None:  # noqa: ANN001
    """Publish a producer or consumer index (a store-release: the entries written or read
    before it are done when the kernel sees it)."""
    if cython.compiled:
        fp_store_release_u32(base + at, value)  # noqa: F821 - declared in _native.pxd
    else:
        words[at >> 2] = value & 0xFFFFFFFF


def xdp_desc(view, at: int, base: int) -> tuple[int, int, int]:  # noqa: ANN001
    """The xdp_desc (addr, len, options) at byte ``at`` of an RX ring's mapping; the caller
    keeps ``at`` inside the descriptor array."""
    if cython.compiled:
        return (
            fp_load_u64(base + at),  # noqa: F821 - declared in _native.pxd
            fp_load_u32(base + at + 8),  # noqa: F821
            fp_load_u32(base + at + 12),  # noqa: F821
        )
    return _XDP_DESC(view, at)


def put_u64(view, at: int, base: int, value: int) -> None:  # noqa: ANN001
    """Store a fill-ring entry (a UMEM offset) at byte ``at`` of the ring's mapping."""
    if cython.compiled:
        fp_store_u64(base + at, value)  # noqa: F821 - declared in _native.pxd
    else:
        _U64_PUT(view, at, value)


def zero(mv, addr: int, size: int) -> None:  # noqa: ANN001
    """Clear the ``size`` bytes at ``addr``, which ``mv`` views from its first byte."""
    if cython.compiled:
        memset(cython.cast(cython.p_char, addr), 0, size)  # noqa: F821 - from libc.string
    else:
        mv[:size] = bytes(size)


def prefetch(addr: int) -> None:
    """Start loading the cache line at ``addr`` (a frame the kernel just wrote, on another
    CPU) while the receive loop goes on, as drivers' net_prefetch does; nothing
    interpreted."""
    if cython.compiled:
        fp_prefetch(addr)  # noqa: F821 - declared in _native.pxd


# recvmsg(2) and recvmmsg(2) for the socket receive loops: libc through ctypes when
# interpreted, the C calls when compiled (fp_recvmsg / fp_recvmmsg in _native.pxd).
_libc = ctypes.CDLL(None, use_errno=True)
_recvmsg = _libc.recvmsg
_recvmsg.restype = ctypes.c_ssize_t
_recvmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
_recvmmsg = _libc.recvmmsg
_recvmmsg.restype = ctypes.c_int
_recvmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p)
#: msghdr's msg_namelen (at 8); msg_controllen (40) and msg_flags (48), then the iovec at
#: 56 (two packs: a pad byte in a format would overwrite the pointers between them).
_MSG_NAMELEN = struct.Struct("=I").pack_into
_MSG_ARM = struct.Struct("=Qi4xQQ").pack_into
_IOV = struct.Struct("=QQ").pack_into


def recv_msg(fd: int, msg, addr: int, iov_base: int, iov_len: int, namelen: int,  # noqa: ANN001
             ctrllen: int, flags: int) -> int:  # fmt: skip
    """One recvmsg(2) of the msghdr at ``addr`` (``msg`` views it), its single iovec right
    after it at byte 56: the fields the kernel writes back (msg_namelen, msg_controllen,
    msg_flags) and the iovec are set first. Returns the bytes received or -errno."""
    if cython.compiled:
        fp_arm_msg(addr, namelen, ctrllen, iov_base, iov_len)  # noqa: F821 - in _native.pxd
        return fp_recvmsg(fd, addr, flags)  # noqa: F821
    _MSG_NAMELEN(msg, 8, namelen)
    _MSG_ARM(msg, 40, ctrllen, 0, iov_base, iov_len)
    n = _recvmsg(fd, addr, flags)
    return n if n >= 0 else -ctypes.get_errno()


def recv_mmsg(fd: int, msgs_addr: int, template_addr: int, iov, iov_addr: int,  # noqa: ANN001
              first: int, stride: int, room: int, count: int, flags: int) -> int:  # fmt: skip
    """One recvmmsg(2) of ``count`` messages into buffers of ``room`` bytes every
    ``stride`` bytes from ``first``: iovec i (of the array at ``iov_addr``, ``iov`` viewing
    it) is pointed at its buffer (unless ``room`` is 0: the caller set the iovecs) and the
    mmsghdrs at ``msgs_addr`` are reset from the template at ``template_addr`` first.
    Returns how many arrived or -errno."""
    if cython.compiled:
        return fp_recvmmsg(fd, msgs_addr, template_addr, iov_addr,  # noqa: F821
                           first, stride, room, count, flags)  # fmt: skip
    for i in range(count if room else 0):
        _IOV(iov, 16 * i, first + i * stride, room)
    ctypes.memmove(msgs_addr, template_addr, 64 * count)
    n = _recvmmsg(fd, msgs_addr, count, flags, None)
    return n if n >= 0 else -ctypes.get_errno()


# Text written into a line buffer (the tcpdump lines of `fragpool capture`): ``out`` is
# writable_address(bytearray) and ``pos`` the next free byte; each helper returns the byte
# after what it wrote. The caller keeps enough room free (these do not check).


def writable_address(buf):  # noqa: ANN001, ANN201 - a C pointer when compiled
    """Where the helpers below write into the bytearray ``buf`` (its first byte compiled,
    ``buf`` itself interpreted); valid while ``buf`` is not resized."""
    if cython.compiled:
        view = buf
        if view.shape[0] == 0:
            raise ValueError("no room to write into an empty buffer")
        return cython.address(view[0])
    return buf


def address_bytes(addr: int, n: int):  # noqa: ANN201 - a C pointer when compiled
    """The ``n`` bytes at address ``addr`` (an skb's linear data) to read with ``p[i]``:
    the address itself compiled, a copy of the bytes interpreted."""
    if cython.compiled:
        return cython.cast(cython.p_uchar, addr)
    return ctypes.string_at(addr, n)


def put_bytes(out, pos: int, data: bytes) -> int:  # noqa: ANN001
    """``data`` at ``pos``."""
    n = len(data)
    if cython.compiled:
        memcpy(out + pos, cython.cast(cython.p_char, data), n)  # noqa: F821 - libc.string
    else:
        out[pos : pos + n] = data
    return pos + n


def put_dec(out, pos: int, value: int) -> int:  # noqa: ANN001
    """``value`` (>= 0) in decimal."""
    if cython.compiled:
        return fp_put_dec(out, pos, value, 0)  # noqa: F821 - declared in _native.pxd
    text = b"%d" % value
    out[pos : pos + len(text)] = text
    return pos + len(text)


def put_dec_width(out, pos: int, value: int, width: int) -> int:  # noqa: ANN001
    """``value`` (>= 0) in decimal, zero-padded to ``width`` digits."""
    if cython.compiled:
        return fp_put_dec(out, pos, value, width)  # noqa: F821 - declared in _native.pxd
    text = b"%0*d" % (width, value)
    out[pos : pos + len(text)] = text
    return pos + len(text)


def put_ip4(out, pos: int, p, at: int) -> int:  # noqa: ANN001
    """The IPv4 address at ``at`` of ``p`` as a.b.c.d."""
    for i in range(4):
        if i:
            out[pos] = 46  # "."
            pos += 1
        pos = put_dec(out, pos, p[at + i])
    return pos


def put_ip6(out, pos: int, p, at: int) -> int:  # noqa: ANN001
    """The IPv6 address at ``at`` of ``p`` as inet_ntop(3) writes it (what Python's
    socket.inet_ntop returns: the same libc call)."""
    if cython.compiled:
        return fp_put_ip6(out, pos, p + at)  # noqa: F821 - declared in _native.pxd
    import socket

    return put_bytes(out, pos, socket.inet_ntop(socket.AF_INET6, bytes(p[at : at + 16])).encode())


def append_from(out: bytearray, addr: int, n: int) -> None:
    """Append the ``n`` bytes at address ``addr`` (an skb's linear data) to ``out``."""
    if cython.compiled:
        old = len(out)
        PyByteArray_Resize(out, old + n)  # noqa: F821 - cimported by _native.pxd
        memcpy(PyByteArray_AS_STRING(out) + old, cython.cast(cython.p_char, addr), n)  # noqa: F821
    else:
        out += ctypes.string_at(addr, n)


def append_u32x4(out: bytearray, a: int, b: int, c: int, d: int, big: bool) -> None:
    """Append four u32s (a pcap record header) to ``out``, big- or little-endian."""
    if cython.compiled:
        old = len(out)
        PyByteArray_Resize(out, old + 16)  # noqa: F821
        fp_store_u32x4(PyByteArray_AS_STRING(out) + old, a, b, c, d, big)  # noqa: F821
    else:
        out += _U32X4_PACK[big](a, b, c, d)


_U32X4_PACK = (struct.Struct("<IIII").pack, struct.Struct(">IIII").pack)


def thread_ident() -> int:
    """threading.get_ident(), without a Python call when compiled."""
    if cython.compiled:
        return PyThread_get_thread_ident()  # noqa: F821 - cimported by _native.pxd
    return get_ident()


def load64(p, at: int) -> int:  # noqa: ANN001
    """The u64 at ``at``, native byte order (compiled loads only)."""
    if cython.compiled:
        return fp_load64(p, at)  # noqa: F821 - declared in _native.pxd
    lo = load32(p, at, _BIG)
    hi = load32(p, at + 4, _BIG)
    if _BIG:
        lo, hi = hi, lo
    return hi << 32 | lo


def load32(p, at: int, big: bool) -> int:  # noqa: ANN001
    """The u32 at ``at`` from bytes (the compiled loads share it)."""
    if cython.compiled:
        return fp_load32(p, at, big)  # noqa: F821 - declared in _native.pxd
    v = p[at] | p[at + 1] << 8 | p[at + 2] << 16 | p[at + 3] << 24
    if big:
        v = (v >> 24) | ((v >> 8) & 0xFF00) | ((v << 8) & 0xFF0000) | ((v << 24) & 0xFF000000)
    return v
