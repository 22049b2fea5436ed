"""`fragpool capture -i` over a veth pair: -c and -w give a file tcpdump reads, SIGINT
leaves a complete file, and bad input is one line on stderr with a non-zero status."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from netns import known_frames, trafgen_send, udp_frame, udp_seq

from fragpool.io.files.reader import open_offline
from fragpool.io.live.capture import MODES

live = pytest.mark.live
CMD = [sys.executable, "-m", "fragpool.cli", "capture"]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*CMD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def feed_until_exit(pair, proc: subprocess.Popen, frames: list[bytes], limit: float = 15.0):
    """Send the frames again and again until the capture exits by itself (-c)."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        trafgen_send(pair, frames)
        time.sleep(0.1)
    out, err = proc.communicate(timeout=10)
    return out, err


def read_back(path) -> list[bytes]:
    with open_offline(path) as r:
        skbs = list(r)
        data = [bytes(s) for s in skbs]
        for s in skbs:
            s.free()
    return data


def tcpdump_count(path) -> int:
    tcpdump = shutil.which("tcpdump") or "/usr/sbin/tcpdump"
    proc = subprocess.run([tcpdump, "-nn", "-r", str(path)], capture_output=True, text=True,
                          timeout=30, check=True)  # fmt: skip
    return sum(1 for ln in proc.stdout.splitlines() if ln[:1].isdigit())  # hex dumps indent


@live
@pytest.mark.parametrize("mode", MODES)
def test_count_and_write_give_a_file_tcpdump_reads(veth, tmp_path, mode):
    frames = [udp_frame(1000 + i, 53, i, size=80 + 100 * i) for i in range(5)]
    out = tmp_path / "live.pcap"
    proc = start("-i", veth.local, "--mode", mode, "-c", "12", "-w", str(out))
    _, err = feed_until_exit(veth, proc, frames)
    assert proc.returncode == 0, err
    assert "12 packets captured" in err
    assert tcpdump_count(out) == 12
    got = read_back(out)
    assert len(got) == 12 and all(g == frames[udp_seq(g)] for g in got)


@live
def test_pcapng_and_json(veth, tmp_path):
    out = tmp_path / "live.pcapng"
    frames = known_frames((60, 700))
    proc = start(
        "-i", veth.local, "-c", "4", "-w", str(out), "--json", "--filter", "ether proto 0x88b5"
    )
    stdout, err = feed_until_exit(veth, proc, frames)
    assert proc.returncode == 0, err
    doc = json.loads(stdout)
    assert doc["packets"] == 4 and doc["written"] == str(out) and doc["stats"]["drops"] == 0
    assert tcpdump_count(out) == 4
    assert all(g in frames for g in read_back(out))


@live
def test_lines_without_w(veth):
    proc = start("-i", veth.local, "--mode", "recvmmsg", "-c", "3")
    stdout, err = feed_until_exit(veth, proc, [udp_frame(4242, 53, 0)])
    assert proc.returncode == 0, err
    lines = stdout.splitlines()
    assert len(lines) == 3 and all("IP 10.77.0.2.4242 > 10.77.0.1.53: UDP" in ln for ln in lines)


@live
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_ends_cleanly_with_the_file_complete(veth, tmp_path, sig):
    out = tmp_path / "sig.pcap"
    frames = [udp_frame(7, 8, i, size=300) for i in range(50)]
    proc = start("-i", veth.local, "-w", str(out))
    sender = trafgen_send(veth, frames, 20000, gap_us=50, wait=False)
    time.sleep(1.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    sender.kill()
    sender.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    n = int(err.split(" packets captured")[0].split()[-1])
    assert n > 0
    got = read_back(out)  # every record whole: the reader raises on a cut one
    assert len(got) == n == tcpdump_count(out)
    assert all(g == frames[udp_seq(g) % 50] for g in got)


@live
def test_rotated_live_files_are_whole_after_a_signal_and_filtered(veth, tmp_path):
    """A trailing-word filter on a live socket, -C 1 -W 3 rotation, then SIGINT: every file
    is complete and holds only packets to the filtered port."""
    keep = [udp_frame(7, 8, i, size=1400) for i in range(50)]
    other = [udp_frame(9, 10, i, size=1400) for i in range(50)]
    proc = start("-i", veth.local, "-w", str(tmp_path / "rot"), "-C", "1", "-W", "3",
                 "udp", "dst", "port", "8")  # fmt: skip
    time.sleep(1.0)
    sender = trafgen_send(veth, keep + other, 6000, gap_us=20, wait=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (tmp_path / "rot2").exists():
        time.sleep(0.2)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    sender.kill()
    sender.communicate()
    assert proc.returncode == 0, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["rot0", "rot1", "rot2"], names
    for name in names:
        got = read_back(tmp_path / name)  # strict: a cut record would raise
        assert got and all(g == keep[udp_seq(g) % 50] for g in got)
        assert tcpdump_count(tmp_path / name) == len(got)


@live
def test_interface_going_away_keeps_what_was_captured(veth, tmp_path):
    out = tmp_path / "gone.pcap"
    proc = start("-i", veth.local, "--mode", "tpacket_v3", "-w", str(out))
    trafgen_send(veth, known_frames((100,)), 3000, gap_us=500)  # 1.5 s: it starts meanwhile
    assert proc.poll() is None
    veth.destroy()
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert "went away during the capture" in err and "Traceback" not in err
    assert "went down; still capturing" not in err  # gone is not a flap
    n = int(err.split(" packets captured")[0].split()[-1])
    assert n >= 1 and tcpdump_count(out) == n


@live
@pytest.mark.parametrize("mode", MODES)
def test_a_link_flap_is_survived_and_reported(veth, tmp_path, mode):
    out = tmp_path / "flap.pcap"
    before = [udp_frame(7, 8, i, size=200) for i in range(20)]
    after = [udp_frame(7, 8, 100 + i, size=200) for i in range(20)]
    proc = start("-i", veth.local, "--mode", mode, "-w", str(out))
    time.sleep(1.0)
    trafgen_send(veth, before, gap_us=1000)
    time.sleep(0.5)
    subprocess.run(["ip", "link", "set", veth.local, "down"], check=True, timeout=30)
    time.sleep(0.8)  # long enough for the capture to see the link down
    subprocess.run(["ip", "link", "set", veth.local, "up"], check=True, timeout=30)
    deadline = time.monotonic() + 10
    while "state UP" not in subprocess.run(["ip", "link", "show", veth.local],
                                           capture_output=True, text=True).stdout:  # fmt: skip
        assert time.monotonic() < deadline, "the veth did not come back up"
        time.sleep(0.1)
    time.sleep(0.5)
    assert proc.poll() is None, proc.communicate()[1]  # still capturing after the flap
    trafgen_send(veth, after, gap_us=1000)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "went down; still capturing" in err and "went away" not in err
    got = read_back(out)
    assert sorted(udp_seq(g) for g in got) == list(range(20)) + list(range(100, 120))


def _one_line_error(args: list[str], prefix: list[str] = ()) -> str:
    """Run the command expecting exit status 1, nothing on stdout and one stderr line."""
    proc = subprocess.run([*prefix, *CMD, *args], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fragpool capture: "), proc.stderr
    return lines[0]


def test_missing_interface_one_line():
    assert "no such network interface" in _one_line_error(["-i", "fpnosuch9", "-c", "1"])


@live
def test_bad_filter_one_line(veth):
    line = _one_line_error(["-i", veth.local, "--filter", "tcp port nosuchsvc"])
    assert "does not compile" in line


@live
def test_ring_too_large_one_line(veth):
    code = (
        "import sys\nfrom fragpool.io.live import tpacket\ntpacket._phys_mem = lambda: 1 << 20\n"
        "from fragpool.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, "capture", "-i", veth.local],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "too large for memory" in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="drops CAP_NET_RAW from root")
def test_no_permission_one_line():
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) not installed")
    prefix = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw"]
    assert "needs root or CAP_NET_RAW" in _one_line_error(["-i", "lo", "-c", "1"], prefix)


@live
def test_packet_buffered_writes_each_packet_as_it_comes(veth, tmp_path):
    out = tmp_path / "u.pcap"
    proc = start("-i", veth.local, "-U", "-w", str(out))
    try:
        time.sleep(1.0)
        frames = [udp_frame(7, 8, i, size=100) for i in range(3)]
        trafgen_send(veth, frames, gap_us=1000)
        deadline = time.monotonic() + 5
        got: list[bytes] = []
        while time.monotonic() < deadline and len(got) < 3:
            time.sleep(0.1)
            got = read_back(out)  # while the capture still runs: whole records only
        assert proc.poll() is None
        assert sorted(udp_seq(g) for g in got) == [0, 1, 2]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_disk_leaves_whole_records_and_says_how_many(tmp_path):
    import re
    import struct

    hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    recs = b"".join(struct.pack("<IIII", 1, i, 1000, 1000) + bytes([i % 256]) * 1000
                    for i in range(4000))  # fmt: skip
    src = tmp_path / "big.pcap"
    src.write_bytes(hdr + recs)
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        out = small / "out.pcap"
        proc = subprocess.run([*CMD, "-r", str(src), "-w", str(out)], capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert proc.returncode == 1
        assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr
        m = re.search(r"; (\d+) packets written to it, the file ends on the last whole record",
                      proc.stderr)  # fmt: skip
        assert m, proc.stderr
        got = read_back(out)  # strict: a torn last record would raise
        assert len(got) == int(m.group(1)) > 0
        assert got == [bytes([i % 256]) * 1000 for i in range(len(got))]
        assert out.stat().st_size == 24 + 1016 * len(got)
    finally:
        subprocess.run(["umount", str(small)], check=False)


@live
@pytest.mark.parametrize(("direction", "want"), [("in", 1111), ("out", 7777)])
def test_direction_keeps_received_or_sent_frames(veth, tmp_path, direction, want):
    """-Q in: the frames that came in (from the peer); -Q out: those this host sent."""
    import socket

    out = tmp_path / "dir.pcap"
    proc = start("-i", veth.local, "--mode", "recvmmsg", "-Q", direction, "-c", "3",
                 "-w", str(out))  # fmt: skip
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((veth.local, 0))
    deadline = time.monotonic() + 15
    seq = 0
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            trafgen_send(veth, [udp_frame(1111, 53, seq)])  # incoming
            sock.send(udp_frame(7777, 53, seq, src_ip="10.77.0.1", dst_ip="10.77.0.2"))
            seq += 1
            time.sleep(0.05)
    finally:
        sock.close()
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    got = read_back(out)
    assert len(got) == 3 and {int.from_bytes(g[34:36], "big") for g in got} == {want}


@live
def test_list_data_link_types_is_tcpdumps_and_y_takes_one(veth, tmp_path):
    tcpdump = shutil.which("tcpdump") or "/usr/sbin/tcpdump"
    ours = subprocess.run([*CMD, "-L", "-i", veth.local], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    theirs = subprocess.run([tcpdump, "-L", "-i", veth.local], capture_output=True, text=True,
                            timeout=30)  # fmt: skip
    assert ours.returncode == 0, ours.stderr
    mine, listed = ours.stderr.splitlines(), theirs.stderr.splitlines()  # tcpdump's: stderr
    assert mine[0] == listed[0]  # "Data link types for IF (use option -y to set):"
    assert mine[1:] == ["  EN10MB (Ethernet)"] and set(mine) <= set(listed)
    out = tmp_path / "y.pcap"
    proc = start("-i", veth.local, "-y", "EN10MB", "-c", "2", "-w", str(out))
    _, err = feed_until_exit(veth, proc, [udp_frame(1, 2, 0)])
    assert proc.returncode == 0, err
    bad = subprocess.run([*CMD, "-i", veth.local, "-y", "DOCSIS", "-c", "1"],
                         capture_output=True, text=True, timeout=30)  # fmt: skip
    assert bad.returncode == 2 and "-L lists its link types" in bad.stderr
