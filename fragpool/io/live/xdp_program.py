"""The XDP side of an AF_XDP queue: an XSKMAP and the redirect program, attached by a link.

The program is six eBPF instructions assembled here (no compiler at run time): look up the
frame's rx queue in the XSKMAP and redirect it to the socket bound there, or pass it to the
stack when no socket is (``bpf_redirect_map(map, ctx->rx_queue_index, XDP_PASS)``, what
libxdp's default program does). It is attached with BPF_LINK_CREATE, so it goes when the
link's file descriptor closes, including when the process is killed.

Facts (constants, attr layouts) are those of the uapi headers as checked on this kernel
(AF_XDP.md); the bpf(2) calls go through libc's syscall().
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

from .errors import LiveCaptureError

_NR_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine())
BPF_MAP_CREATE = 0
BPF_MAP_UPDATE_ELEM = 2
BPF_PROG_LOAD = 5
BPF_LINK_CREATE = 28
BPF_MAP_TYPE_XSKMAP = 17
BPF_PROG_TYPE_XDP = 6
BPF_XDP = 37
BPF_FUNC_redirect_map = 51
BPF_PSEUDO_MAP_FD = 1
BPF_F_XDP_HAS_FRAGS = 0x20
XDP_PASS = 2
XDP_FLAGS_SKB_MODE = 2
XDP_FLAGS_DRV_MODE = 4
#: xdp_mode name -> the link's attach flags.
MODE_FLAGS = {"native": XDP_FLAGS_DRV_MODE, "generic": XDP_FLAGS_SKB_MODE}
_ATTR_SIZE = 128
_LOG_SIZE = 1 << 16

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def redirect_program(map_fd: int) -> bytes:
    """r2 = ctx->rx_queue_index; r1 = map; r3 = XDP_PASS; return bpf_redirect_map(r1, r2, r3)."""
    return b"".join(
        (
            _insn(0x61, dst=2, src=1, off=16),  # ldxw r2, [r1 + 16] (xdp_md.rx_queue_index)
            _insn(0x18, dst=1, src=BPF_PSEUDO_MAP_FD, imm=map_fd),  # ld_imm64 r1, map
            _insn(0),  # ld_imm64's second half
            _insn(0xB7, dst=3, imm=XDP_PASS),  # mov64 r3, XDP_PASS
            _insn(0x85, imm=BPF_FUNC_redirect_map),  # call bpf_redirect_map
            _insn(0x95),  # exit
        )
    )


def _bpf(cmd: int, attr: ctypes.Array, what: str) -> int:
    if _NR_BPF is None:
        raise LiveCaptureError(errno.ENOSYS, f"{what}: bpf(2) is not known on {platform.machine()}")
    ret = _libc.syscall(_NR_BPF, cmd, attr, _ATTR_SIZE)
    if ret < 0:
        err = ctypes.get_errno()
        hint = ""
        if err == errno.EPERM:
            hint = " (loading and attaching XDP programs needs CAP_BPF and CAP_NET_ADMIN)"
        raise LiveCaptureError(err, f"{what}: {os.strerror(err)}{hint}")
    return int(ret)


class XdpProgram:
    """An XSKMAP of ``queues`` entries and the redirect program using it (fds owned here)."""

    def __init__(self, queues: int, frags: bool) -> None:
        self.map_fd = self.prog_fd = -1
        self.link_fd = -1
        attr = ctypes.create_string_buffer(_ATTR_SIZE)
        struct.pack_into("<IIII", attr, 0, BPF_MAP_TYPE_XSKMAP, 4, 4, queues)
        attr[28 : 28 + 9] = b"fp_xskmap"
        self.map_fd = _bpf(BPF_MAP_CREATE, attr, "creating the XSKMAP")
        try:
            self.prog_fd = self._load(frags)
        except BaseException:
            self.close()
            raise

    def _load(self, frags: bool) -> int:
        code = ctypes.create_string_buffer(redirect_program(self.map_fd))
        license_ = ctypes.create_string_buffer(b"GPL")
        log = ctypes.create_string_buffer(_LOG_SIZE)
        attr = ctypes.create_string_buffer(_ATTR_SIZE)
        struct.pack_into(
            "<IIQQIIQ",
            attr,
            0,
            BPF_PROG_TYPE_XDP,
            len(code.raw) // 8,
            ctypes.addressof(code),
            ctypes.addressof(license_),
            1,  # log_level
            _LOG_SIZE,
            ctypes.addressof(log),
        )
        struct.pack_into("<I", attr, 44, BPF_F_XDP_HAS_FRAGS if frags else 0)
        attr[48 : 48 + 10] = b"fp_xsk_rdr"
        struct.pack_into("<I", attr, 68, BPF_XDP)  # expected_attach_type
        try:
            return _bpf(BPF_PROG_LOAD, attr, "loading the XDP redirect program")
        except LiveCaptureError as err:
            text = log.value.decode(errors="replace").strip()
            if text:
                raise LiveCaptureError(err.errno, f"{err.strerror}; verifier: {text}") from None
            raise

    def set_socket(self, queue: int, xsk_fd: int) -> None:
        """XSKMAP[queue] = the AF_XDP socket: frames of that queue go to it."""
        key, value = ctypes.c_uint32(queue), ctypes.c_uint32(xsk_fd)
        attr = ctypes.create_string_buffer(_ATTR_SIZE)
        struct.pack_into(
            "<IxxxxQQQ", attr, 0, self.map_fd, ctypes.addressof(key), ctypes.addressof(value), 0
        )
        _bpf(BPF_MAP_UPDATE_ELEM, attr, f"adding the socket to the XSKMAP at queue {queue}")

    def attach(self, ifindex: int, mode: str) -> None:
        """BPF_LINK_CREATE on the interface in ``mode`` ("native" or "generic")."""
        attr = ctypes.create_string_buffer(_ATTR_SIZE)
        struct.pack_into("<IIII", attr, 0, self.prog_fd, ifindex, BPF_XDP, MODE_FLAGS[mode])
        self.link_fd = _bpf(BPF_LINK_CREATE, attr, f"attaching the XDP program ({mode} mode)")

    def attach_mode(self, ifindex: int, mode: str) -> tuple[str, str | None]:
        """Attach in ``mode``; "auto" tries native and falls back to generic.

        Returns the mode attached and, after a fallback, why native was refused.
        """
        if mode != "auto":
            self.attach(ifindex, mode)
            return mode, None
        try:
            self.attach(ifindex, "native")
            return "native", None
        except LiveCaptureError as err:
            self.attach(ifindex, "generic")
            return "generic", f"native XDP refused ({err.strerror})"

    def detach(self) -> None:
        """Close the link: the kernel removes the program from the interface."""
        if self.link_fd >= 0:
            os.close(self.link_fd)
            self.link_fd = -1

    def close(self) -> None:
        self.detach()
        for name in ("prog_fd", "map_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)
