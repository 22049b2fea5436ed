"""A classic-BPF program (struct sock_filter[]), checked the way the kernel checks one.

The checks are those of the kernel's ``bpf_check_classic`` (and libpcap's ``bpf_validate``):
1..4096 instructions, only known opcodes, jumps that land inside the program, scratch
memory indices below 16, no division or modulo by a constant zero, no constant shift of 32
or more, and a ``ret`` as the last instruction. Only a checked program reaches the
interpreter, so it never runs off the end. The instructions are also kept as flat arrays,
which is what the interpreter reads (C arrays when compiled).
"""

from __future__ import annotations

import ctypes
import struct
from array import array
from collections.abc import Iterable, Iterator

from .errors import FilterError

#: One instruction: (code, jt, jf, k), struct sock_filter's fields.
Insn = tuple[int, int, int, int]

BPF_MAXINSNS = 4096
BPF_MEMWORDS = 16

# Instruction classes and the fields of an opcode (linux/bpf_common.h).
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = range(8)
BPF_K, BPF_X = 0x00, 0x08
BPF_RET_K, BPF_RET_A = 0x06, 0x16
BPF_JA = 0x05
BPF_ALU_DIV_K, BPF_ALU_MOD_K = 0x34, 0x94
BPF_ALU_LSH_K, BPF_ALU_RSH_K = 0x64, 0x74

_LD_ABS = {0x20, 0x28, 0x30}  # ld/ldh/ldb [k]
_LD_IND = {0x40, 0x48, 0x50}  # ld/ldh/ldb [x + k]
_MEM = {0x60, 0x61, 0x02, 0x03}  # ld M[k], ldx M[k], st M[k], stx M[k]
_ALU = {op | src for op in range(0x04, 0xA5, 0x10) if op != 0x84 for src in (BPF_K, BPF_X)}
_COND_JUMPS = {op | src for op in (0x15, 0x25, 0x35, 0x45) for src in (BPF_K, BPF_X)}
#: Every opcode the kernel's classic checker accepts.
VALID_CODES = frozenset(
    _LD_ABS
    | _LD_IND
    | _MEM
    | _ALU
    | _COND_JUMPS
    | {
        0x00,  # ld #k
        0x80,  # ld #len
        0x01,  # ldx #k
        0x81,  # ldx #len
        0xB1,  # ldx 4*([k]&0xf)
        0x84,  # neg
        BPF_JA,
        BPF_RET_K,
        BPF_RET_A,
        0x07,  # tax
        0x87,  # txa
    }
)

_SOCK_FPROG = struct.Struct("=H6xQ")  # struct sock_fprog: len, padding, filter pointer


class SockFilter(ctypes.Structure):
    """struct sock_filter (libpcap's struct bpf_insn has the same layout)."""

    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


def check(insns: tuple[Insn, ...]) -> None:
    """bpf_check_classic(): raise FilterError naming the first instruction that is invalid."""
    n = len(insns)
    if not 1 <= n <= BPF_MAXINSNS:
        raise FilterError(f"a classic BPF program has 1..{BPF_MAXINSNS} instructions, not {n}")
    for pc, (code, jt, jf, k) in enumerate(insns):
        where = f"instruction {pc} (code {code:#06x}, jt {jt}, jf {jf}, k {k:#x})"
        if not (0 <= code <= 0xFFFF and 0 <= jt <= 0xFF and 0 <= jf <= 0xFF):
            raise FilterError(f"{where}: a field is out of range")
        if not 0 <= k <= 0xFFFFFFFF:
            raise FilterError(f"{where}: k is not a u32")
        if code not in VALID_CODES:
            raise FilterError(f"{where}: unknown opcode")
        if code in _MEM and k >= BPF_MEMWORDS:
            raise FilterError(f"{where}: scratch memory index {k} is not below {BPF_MEMWORDS}")
        if code in (BPF_ALU_DIV_K, BPF_ALU_MOD_K) and k == 0:
            raise FilterError(f"{where}: division by a constant zero")
        if code in (BPF_ALU_LSH_K, BPF_ALU_RSH_K) and k >= 32:
            raise FilterError(f"{where}: constant shift of {k} bits")
        if code == BPF_JA and k >= n - pc - 1:
            raise FilterError(f"{where}: jump past the end of the program")
        if code in _COND_JUMPS and (pc + jt + 1 >= n or pc + jf + 1 >= n):
            raise FilterError(f"{where}: jump past the end of the program")
    if insns[-1][0] not in (BPF_RET_K, BPF_RET_A):
        raise FilterError(f"the last instruction (number {n - 1}) is not a ret")
    _check_memory_reads(insns)


def _check_memory_reads(insns: tuple[Insn, ...]) -> None:
    """Every read of scratch memory M[k] follows a store to M[k] on every path to it (the
    kernel's check_load_and_stores; libpcap leaves such a cell uninitialised)."""
    everything = (1 << BPF_MEMWORDS) - 1
    # stored[pc]: the cells written on every path reaching pc by a jump (jumps go forward)
    stored = [everything] * len(insns)
    valid = 0
    for pc, (code, jt, jf, k) in enumerate(insns):
        valid &= stored[pc]
        if code in (0x02, 0x03):  # st / stx M[k]
            valid |= 1 << k
        elif code in (0x60, 0x61):  # ld / ldx M[k]
            if not valid >> k & 1:
                raise FilterError(f"instruction {pc} reads M[{k}] before anything is stored there")
        elif code == BPF_JA:
            stored[pc + 1 + k] &= valid
            valid = everything
        elif code in _COND_JUMPS:
            stored[pc + 1 + jt] &= valid
            stored[pc + 1 + jf] &= valid
            valid = everything


class Program:
    """A checked classic-BPF program: its instructions, and the flat arrays the interpreter reads.

    ``source`` is the expression it was compiled from (None for hand-written ones),
    ``linktype`` and ``snaplen`` what it was compiled for.
    """

    def __init__(
        self,
        insns: Iterable[Insn],
        source: str | None = None,
        linktype: int = -1,
        snaplen: int = 0,
    ) -> None:
        program = tuple(tuple(int(f) for f in insn) for insn in insns)
        for insn in program:
            if len(insn) != 4:
                raise FilterError(f"an instruction is (code, jt, jf, k), not {insn!r}")
        check(program)  # type: ignore[arg-type]
        self.insns: tuple[Insn, ...] = program  # type: ignore[assignment]
        self.source = source
        self.linktype = linktype
        self.snaplen = snaplen
        self.n = len(program)
        self.code = array("H", [i[0] for i in program])
        self.jt = bytes(i[1] for i in program)
        self.jf = bytes(i[2] for i in program)
        self.k = array("I", [i[3] for i in program])

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Insn]:
        return iter(self.insns)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Program):
            return self.insns == other.insns
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.insns)

    def __repr__(self) -> str:
        what = repr(self.source) if self.source is not None else "hand-written"
        return f"<bpf.Program {what}: {self.n} instructions, linktype {self.linktype}>"

    def sock_fprog(self) -> tuple[bytes, ctypes.Array]:
        """struct sock_fprog for setsockopt, and the instruction array it points to (keep it
        alive until the call returns)."""
        prog = (SockFilter * self.n)(*self.insns)
        return _SOCK_FPROG.pack(self.n, ctypes.addressof(prog)), prog

    def dump(self) -> str:
        """The program as ``tcpdump -dd`` prints it (one C initializer per instruction)."""
        return "\n".join(f"{{ 0x{c:x}, {t}, {f}, 0x{k:08x} }}," for c, t, f, k in self.insns)


def accept_all(snaplen: int) -> Program:
    """``ret #snaplen``: accept every packet, truncated to snaplen (libpcap's empty filter)."""
    return Program(((BPF_RET_K, 0, 0, snaplen),), "", -1, snaplen)


def match_nothing() -> Program:
    """``ret #0``: drop everything (libpcap's match-nothing program, used while swapping)."""
    return Program(((BPF_RET_K, 0, 0, 0),), None)
