"""libpcap's filter compiler, called through ctypes: the same expressions tcpdump takes.

``compile(expr, linktype, snaplen)`` is ``pcap_compile`` on a ``pcap_open_dead`` handle for
that link type and snaplen, optimised, netmask unknown (as tcpdump does without an
interface); its instructions become a checked :class:`~.program.Program`. libpcap's own
error text is the FilterError's message. ``offline_filter`` runs libpcap's interpreter
(``pcap_offline_filter``) on one packet: the reference fragpool's interpreter is tested
against.

Link types here are the LINKTYPE_* values files carry; libpcap's compiler takes DLT_*
values, which differ for a few (LINKTYPE_RAW 101 is DLT_RAW 12 on Linux), mapped as
libpcap's ``linktype_to_dlt`` maps them. libpcap is found as the system library (installed
with tcpdump; the Makefile installs it where missing).
"""

from __future__ import annotations

import ctypes
import functools
import threading
from typing import Any

from .errors import FilterError
from .program import Program, SockFilter

#: pcap_compile's netmask when none is known (broadcast primitives then refuse to compile).
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF
#: The snaplen a file that declares none (0) is compiled for: libpcap's maximum.
MAXIMUM_SNAPLEN = 262144
#: LINKTYPE_* values whose DLT_* differs on Linux (libpcap's linktype_to_dlt).
_LINKTYPE_TO_DLT = {100: 11, 101: 12, 102: 15, 103: 16, 106: 19}
_DLT_TO_LINKTYPE = {dlt: linktype for linktype, dlt in _LINKTYPE_TO_DLT.items()}
_LIBRARY_NAMES = ("pcap", "libpcap.so.1", "libpcap.so.0.8", "libpcap.so")


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(SockFilter))]


class _PktHdr(ctypes.Structure):
    """struct pcap_pkthdr: a struct timeval, caplen, len."""

    _fields_ = [
        ("tv_sec", ctypes.c_long),
        ("tv_usec", ctypes.c_long),
        ("caplen", ctypes.c_uint32),
        ("len", ctypes.c_uint32),
    ]


_lock = threading.Lock()  # pcap_compile was not thread-safe before libpcap 1.8


@functools.cache
def _lib() -> Any:
    import ctypes.util  # when a filter is first compiled: it starts a process (start-up time)

    for name in _LIBRARY_NAMES:
        path = ctypes.util.find_library(name) if "." not in name else name
        if not path:
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        lib.pcap_compile.restype = ctypes.c_int
        lib.pcap_compile.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(_BpfProgram),
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_uint32,
        ]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
        lib.pcap_offline_filter.restype = ctypes.c_int
        lib.pcap_offline_filter.argtypes = [
            ctypes.POINTER(_BpfProgram),
            ctypes.POINTER(_PktHdr),
            ctypes.c_char_p,
        ]
        lib.pcap_datalink_name_to_val.restype = ctypes.c_int
        lib.pcap_datalink_name_to_val.argtypes = [ctypes.c_char_p]
        lib.pcap_lib_version.restype = ctypes.c_char_p
        return lib
    raise FilterError(
        "libpcap not found: fragpool compiles filters with libpcap's pcap_compile; install it "
        "(apt-get install libpcap0.8, or `make tools`)"
    )


def version() -> str:
    """libpcap's version string (pcap_lib_version)."""
    return _lib().pcap_lib_version().decode()


def linktype_value(name: str) -> int:
    """A link type's number from its libpcap name ("EN10MB", "RAW", ...), as a LINKTYPE_*."""
    dlt = _lib().pcap_datalink_name_to_val(name.encode())
    if dlt < 0:
        raise FilterError(f"libpcap knows no link type named {name!r}")
    return _DLT_TO_LINKTYPE.get(dlt, dlt)


def _dlt(linktype: int) -> int:
    return _LINKTYPE_TO_DLT.get(linktype, linktype)


@functools.lru_cache(maxsize=64)
def compile(expr: str, linktype: int = 1, snaplen: int = MAXIMUM_SNAPLEN) -> Program:  # noqa: A001
    """pcap_compile(): a tcpdump expression as a classic-BPF Program for ``linktype`` (a
    LINKTYPE_* number) and ``snaplen``; a bad expression raises FilterError with libpcap's
    message."""
    if not isinstance(expr, str):
        raise FilterError(f"a filter is a str, not {type(expr).__name__}")
    if not isinstance(snaplen, int) or not 1 <= snaplen <= 0x7FFFFFFF:
        raise FilterError(f"snaplen {snaplen!r} is out of range 1..2147483647")
    try:
        source = expr.encode()
    except UnicodeEncodeError as err:
        raise FilterError(f"filter {expr!r} is not ASCII: {err.reason}") from None
    lib = _lib()
    prog = _BpfProgram()
    with _lock:
        handle = lib.pcap_open_dead(_dlt(linktype), snaplen)
        if not handle:
            raise FilterError(f"libpcap could not open a handle for link type {linktype}")
        try:
            if lib.pcap_compile(handle, ctypes.byref(prog), source, 1, PCAP_NETMASK_UNKNOWN):
                reason = lib.pcap_geterr(handle).decode(errors="replace")
                raise FilterError(f"filter {expr!r} does not compile: {reason}")
        finally:
            lib.pcap_close(handle)
    try:
        insns = [(ins.code, ins.jt, ins.jf, ins.k) for ins in prog.bf_insns[: prog.bf_len]]
    finally:
        lib.pcap_freecode(ctypes.byref(prog))
    return Program(insns, expr, linktype, snaplen)


def offline_filter(program: Program, data: bytes, wire_len: int | None = None) -> int:
    """pcap_offline_filter(): libpcap's own verdict on one packet (the reference to test
    fragpool's interpreter against)."""
    insns = (SockFilter * program.n)(*program.insns)
    prog = _BpfProgram(program.n, ctypes.cast(insns, ctypes.POINTER(SockFilter)))
    n = len(data)
    hdr = _PktHdr(0, 0, n, n if wire_len is None else wire_len)
    verdict = _lib().pcap_offline_filter(ctypes.byref(prog), ctypes.byref(hdr), bytes(data))
    return verdict & 0xFFFFFFFF  # bpf_filter's u_int, through an int return
