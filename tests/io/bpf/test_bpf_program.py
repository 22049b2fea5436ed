"""The classic-BPF checker refuses what the kernel's bpf_check_classic refuses, naming it."""

from __future__ import annotations

import pytest

from fragpool.io import bpf
from fragpool.io.bpf.program import BPF_MAXINSNS

RET_A = (0x16, 0, 0, 0)


@pytest.mark.parametrize(
    "insns, match",
    [
        ([], "1..4096 instructions, not 0"),
        ([(0x06, 0, 0, 0)] * (BPF_MAXINSNS + 1), "not 4097"),
        ([(0xFF, 0, 0, 0), RET_A], "instruction 0 .*unknown opcode"),
        ([(0x60, 0, 0, 16), RET_A], "scratch memory index 16"),
        ([(0x02, 0, 0, 99), RET_A], "scratch memory index 99"),
        ([(0x34, 0, 0, 0), RET_A], "division by a constant zero"),
        ([(0x94, 0, 0, 0), RET_A], "division by a constant zero"),
        ([(0x64, 0, 0, 32), RET_A], "constant shift of 32"),
        ([(0x05, 0, 0, 1), RET_A], "jump past the end"),
        ([(0x15, 1, 0, 0), RET_A], "jump past the end"),
        ([(0x15, 0, 5, 0), RET_A, RET_A], "jump past the end"),
        ([(0x00, 0, 0, 1)], "last instruction .* is not a ret"),
        ([(0x00, 0, 0, 1), (0x100, 0, 0, 0), RET_A], "out of range|unknown opcode"),
        ([(0x00, 0, 0, 1 << 32), RET_A], "k is not a u32"),
        ([(0x60, 0, 0, 3), RET_A], "reads M\\[3\\] before anything is stored"),
        # stored on one branch only: the other path reads an unset cell
        ([(0x15, 0, 1, 0), (0x02, 0, 0, 4), (0x60, 0, 0, 4), RET_A], "reads M\\[4\\]"),
    ],
)
def test_invalid_programs_are_refused(insns, match):
    with pytest.raises(bpf.FilterError, match=match):
        bpf.Program(insns)


def test_a_store_on_every_path_makes_the_read_valid():
    prog = bpf.Program([(0x15, 0, 1, 0), (0x02, 0, 0, 4), (0x02, 0, 0, 4), (0x60, 0, 0, 4), RET_A])
    assert len(prog) == 5 and bpf.filter_bytes(prog, b"") == 0


def test_every_program_libpcap_makes_passes_the_checker():
    for expr in ("tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "ip[2:2] > 576 and udp", "vlan and ip"):
        prog = bpf.compile(expr)
        assert bpf.Program(prog.insns) == prog and prog.source == expr


def test_compile_names_libpcap_and_the_expression():
    with pytest.raises(bpf.FilterError) as ei:
        bpf.compile("tcp port 99999")
    msg = str(ei.value)
    assert msg.startswith("filter 'tcp port 99999' does not compile: ") and "\n" not in msg
    with pytest.raises(bpf.FilterError, match="ethernet addresses supported only on"):
        bpf.compile("ether host 1:2:3:4:5:6", 101)  # raw IP has no Ethernet header


def test_dump_prints_tcpdump_dd_lines():
    assert bpf.compile("ip", 1, 96).dump().splitlines()[-1] == "{ 0x6, 0, 0, 0x00000000 },"
