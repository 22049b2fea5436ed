"""-Z USER, as tcpdump's: the socket opened (and XDP attached) as root, then every packet
read and every file written as USER, with no capability left (issue 19)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from netns import start_attached, trafgen_send, udp_frame, udp_seq, xdp_attached

from fragpool.io.files.reader import open_offline

live = pytest.mark.live
CAPTURE = [sys.executable, "-m", "fragpool.cli", "capture"]
NOBODY = pwd.getpwnam("nobody").pw_uid


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


@pytest.fixture
def shared_dir():
    """A directory nobody may write to (pytest's tmp_path is root's alone)."""
    path = tempfile.mkdtemp(prefix="fp-drop-", dir="/tmp")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@live
@pytest.mark.parametrize("mode", ["tpacket_v3", "af_xdp"])
def test_capture_runs_and_writes_as_the_user(veth1500, shared_dir, mode):
    out = os.path.join(shared_dir, "z.pcap")
    proc = subprocess.Popen([*CAPTURE, "-Z", "nobody", "-i", veth1500.local, "--mode", mode,
                             "-w", out], stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(out) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.05)
        st = proc_status(proc.pid)
        assert st["Uid"].split() == [str(NOBODY)] * 4, st["Uid"]
        assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
        assert os.stat(out).st_uid == NOBODY  # created after the drop, by the user
        frames = [udp_frame(7, 8, i, size=120) for i in range(5)]
        trafgen_send(veth1500, frames, gap_us=1000)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    with open_offline(out) as r:
        got = [bytes(s) for s in r]
    assert sorted(udp_seq(g) for g in got) == list(range(5))
    assert not xdp_attached(veth1500.local)


def test_an_unknown_user_is_refused(tmp_path):
    src = tmp_path / "a.pcap"
    src.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    proc = subprocess.run([*CAPTURE, "-Z", "no-such-user-fp", "-r", str(src), "-w",
                           str(tmp_path / "b.pcap")], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip() == "fragpool capture: -Z no-such-user-fp: no such user"
    assert not (tmp_path / "b.pcap").exists()


@live
def test_the_xdp_driver_drops_to_the_user_after_attaching(veth1500):
    proc = start_attached(veth1500.local, "driver", "-i", veth1500.local, "--xdp",
                          "--rings", "1", "-c", "5", "-Z", "nobody", "--json")  # fmt: skip
    try:
        time.sleep(0.3)
        st = proc_status(proc.pid)
        assert st["Uid"].split()[1] == str(NOBODY) and int(st["CapEff"], 16) == 0
        trafgen_send(veth1500, [udp_frame(7, 8, i, size=100) for i in range(5)], gap_us=1000)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert doc["total"]["packets"] == 5 and doc["teardown"]["clean"]
    assert not xdp_attached(veth1500.local)
