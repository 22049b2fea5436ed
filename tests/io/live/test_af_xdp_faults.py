"""AF_XDP under faults: an interface that goes away, a UMEM all held, two threads, missing
privileges and limits. Each case once hung, miscounted or said too little (issue 19)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time

import pytest
from netns import collect, free_all, known_frames, start_attached, trafgen_send, xdp_attached

from fragpool.io.live.capture import open_live
from fragpool.io.live.errors import LiveCaptureError

live = pytest.mark.live


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail (instead of hanging the suite) if the block takes longer than ``seconds``."""

    def expired(_sig, _frame):
        raise TimeoutError(f"still waiting after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def delete_later(ifname: str, after: float) -> threading.Thread:
    def run():
        time.sleep(after)
        subprocess.run(["ip", "link", "del", ifname], check=True, timeout=30)

    t = threading.Thread(target=run)
    t.start()
    return t


@live
def test_a_deleted_interface_ends_the_capture(veth1500):
    frames = known_frames((60, 100, 500, 1000, 1514))
    cap = open_live(veth1500.local, mode="af_xdp")
    trafgen_send(veth1500, frames)
    deleter = delete_later(veth1500.local, 0.5)
    got = []
    t0 = time.monotonic()
    with deadline(10), pytest.raises(LiveCaptureError, match="went away") as err:
        for skb in cap:
            got.append(bytes(skb))
            skb.free()
    deleter.join()
    assert time.monotonic() - t0 < 3  # a slice or two after the deletion, not never
    assert got == frames  # what arrived before was handed out first
    assert veth1500.local in str(err.value)
    assert cap.close().clean


@live
def test_capture_cli_ends_when_its_interface_goes(veth1500, tmp_path):
    out = tmp_path / "x.pcap"
    proc = start_attached(veth1500.local, "capture", "-i", veth1500.local, "--mode", "af_xdp",
                          "-w", str(out))  # fmt: skip
    try:
        trafgen_send(veth1500, known_frames((60, 200, 1514)))
        time.sleep(0.3)
        subprocess.run(["ip", "link", "del", veth1500.local], check=True, timeout=30)
        _out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "went away" in err, err
    assert "Traceback" not in err
    with open_live_file(out) as r:
        assert len(list(r)) == 3  # a whole file with every frame that came before


def open_live_file(path):
    from fragpool.io.files.reader import open_offline

    return open_offline(str(path))


@live
@pytest.mark.parametrize("freer", ["receiver", "other thread"])
def test_freed_chunks_resume_a_blocking_receive(veth1500, freer):
    # 64 chunks, none copied out: holding 64 skbs leaves the kernel nothing to write to
    cap = open_live(veth1500.local, mode="af_xdp", frames=64, copybreak_at=64)
    try:
        first = known_frames((100,) * 64)
        trafgen_send(veth1500, first, gap_us=100)
        held = collect(cap, 64)
        assert len(held) == 64
        st = cap.stats()
        assert st["chunks_held"] == 64 and st["chunks_in_fill_ring"] == 0
        trafgen_send(veth1500, known_frames((100,) * 20))  # no chunk for these: dropped
        time.sleep(0.2)
        st = cap.stats()
        # each lost frame once (rx_fill_ring_empty_descs counts the same 20 again), and
        # packets as in the AF_PACKET modes: what arrived plus what was dropped
        assert st["rx_dropped"] == 20 and st["drops"] == 20
        assert st["received"] == 64 and st["packets"] == 84
        if freer == "receiver":
            free_all(held)
        else:
            t = threading.Thread(target=free_all, args=(held,))
            t.start()
            t.join()
        later = known_frames((200,) * 10)
        sender = threading.Thread(target=lambda: (time.sleep(0.5), trafgen_send(veth1500, later)))
        sender.start()
        got = []
        with deadline(10):
            while len(got) < 10:
                got += cap.recv_batch(64, None)  # blocking: resumes without a timeout
        sender.join()
        assert [bytes(s) for s in got] == later
        free_all(got)
        assert cap.stats()["drops"] == 20
    finally:
        assert cap.close().clean
    assert not xdp_attached(veth1500.local)


@live
def test_a_second_receiving_thread_is_refused(veth1500):
    cap = open_live(veth1500.local, mode="af_xdp")
    try:
        trafgen_send(veth1500, known_frames((60, 70)))
        first = collect(cap, 2)
        errors = []

        def other():
            try:
                cap.recv_batch(64, 0)
            except LiveCaptureError as err:
                errors.append(str(err))

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert len(errors) == 1 and "one receiving thread" in errors[0]
        # skbs may still be freed from any thread, and the owner goes on receiving
        t = threading.Thread(target=free_all, args=(first,))
        t.start()
        t.join()
        trafgen_send(veth1500, known_frames((80,)))
        again = collect(cap, 1)
        assert len(again) == 1
        free_all(again)
    finally:
        assert cap.close().clean


PROBE = """
import sys
from fragpool.io.live.capture import open_live
try:
    open_live(sys.argv[1], mode="af_xdp", frames=int(sys.argv[2])).close()
    print("opened")
except Exception as err:
    print(type(err).__name__, err)
"""


def probe(ifname: str, frames: int, *wrap: str, shell: str = "") -> str:
    cmd = [sys.executable, "-c", PROBE, ifname, str(frames)]
    if shell:
        quoted = " ".join(f"'{c}'" for c in cmd)
        cmd = ["sh", "-c", f"{shell}; exec {quoted}"]
    proc = subprocess.run([*wrap, *cmd], capture_output=True, text=True, timeout=60)
    return proc.stdout + proc.stderr


@live
def test_missing_privileges_and_limits_are_named(veth1500):
    ifname = veth1500.local
    nobody = probe(ifname, 64, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    assert "CAP_NET_RAW" in nobody, nobody
    no_bpf = probe(ifname, 64, "setpriv", "--inh-caps=-all", "--bounding-set=-bpf,-sys_admin")
    assert "CAP_BPF" in no_bpf and "CAP_NET_ADMIN" in no_bpf, no_bpf
    memlock = probe(ifname, 4096, "setpriv", "--inh-caps=-all", "--bounding-set=-ipc_lock",
                    shell="ulimit -l 1024")  # fmt: skip
    assert "RLIMIT_MEMLOCK" in memlock and "1024 KiB" in memlock, memlock
    assert "opened" in probe(ifname, 64)
    assert not xdp_attached(ifname)


def test_an_impossible_umem_is_refused_before_any_allocation():
    # refused while checking arguments: no socket, no interface needed beyond the name
    with pytest.raises(ValueError, match="frames 67108864 .* MiB UMEM"):
        open_live("lo", mode="af_xdp", frames=1 << 26)
