"""Live-test plumbing: a veth pair whose far end lives in a network namespace of its own.

VethPair creates `ip netns add fp-<random>` and a veth pair with one end here and the peer
in the namespace, both up with IPv6 disabled (no router solicitations) and no addresses, so
the only frames on the link are the ones a test sends. Senders inject known frames from the
far side with scapy's sendp or netsniff-ng's trafgen, both run with `ip netns exec`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

LIVE_TOOLS = ("ip", "tcpdump", "trafgen")


def missing_tools() -> list[str]:
    """The live-test tools (ip, tcpdump, trafgen) not found on PATH or in /usr/sbin."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [t for t in LIVE_TOOLS if shutil.which(t, path=path) is None]


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


@dataclass
class VethPair:
    """A veth pair: `local` in this namespace, `peer` inside namespace `netns`."""

    mtu: int = 1500
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    netns: str = ""
    local: str = ""
    peer: str = ""

    def __post_init__(self) -> None:
        self.netns = f"fp-{self.tag}"
        self.local = f"fpa{self.tag}"
        self.peer = f"fpb{self.tag}"

    def create(self) -> VethPair:
        """Make the namespace and the pair, disable IPv6 on both ends, set the MTU, bring up."""
        try:
            _run("ip", "netns", "add", self.netns)
            _run("ip", "link", "add", self.local, "type", "veth", "peer", "name", self.peer,
                 "netns", self.netns)  # fmt: skip
            self._sysctl_ipv6_off(self.local, inside=False)
            self._sysctl_ipv6_off(self.peer, inside=True)
            _run("ip", "link", "set", self.local, "mtu", str(self.mtu), "up")
            self.ns("ip", "link", "set", self.peer, "mtu", str(self.mtu), "up")
            self.ns("ip", "link", "set", "lo", "up")
        except BaseException:
            self.destroy()
            raise
        return self

    def _sysctl_ipv6_off(self, ifname: str, *, inside: bool) -> None:
        key = f"net.ipv6.conf.{ifname}.disable_ipv6"
        if not os.path.exists(f"/proc/sys/net/ipv6/conf/{ifname}") and not inside:
            return  # kernel without IPv6
        args = ("sysctl", "-q", "-w", f"{key}=1")
        if inside:
            self.ns(*args, check=False)
        else:
            _run(*args, check=False)

    def ns(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command inside the namespace."""
        return _run("ip", "netns", "exec", self.netns, *args, check=check)

    def destroy(self) -> None:
        """Delete the veth (both ends go) and the namespace; safe to call twice."""
        _run("ip", "link", "del", self.local, check=False)
        _run("ip", "netns", "del", self.netns, check=False)

    def __iter__(self):
        """Unpack as (local ifname, namespace, peer ifname)."""
        return iter((self.local, self.netns, self.peer))

    def __enter__(self) -> VethPair:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()


_SCAPY_SENDER = """
import sys
from scapy.all import Raw, conf, sendp
conf.verb = 0
iface, path, gap = sys.argv[1], sys.argv[2], float(sys.argv[3])
frames = [bytes.fromhex(line) for line in open(path).read().split()]
sendp([Raw(f) for f in frames], iface=iface, inter=gap, verbose=False)
"""


def _frames_file(frames: list[bytes]) -> str:
    fd, path = tempfile.mkstemp(prefix="fp-frames-", suffix=".hex")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(fr.hex() for fr in frames))
    return path


def scapy_send(
    pair: VethPair, frames: list[bytes], *, gap: float = 0.0, wait: bool = True
) -> subprocess.Popen:
    """Send frames from the far end with scapy's sendp, in the namespace (sys.executable)."""
    path = _frames_file(frames)
    cmd = ["ip", "netns", "exec", pair.netns, sys.executable, "-c", _SCAPY_SENDER,
           pair.peer, path, str(gap)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.frames_path = path  # type: ignore[attr-defined]
    if wait:
        finish(proc)
    return proc


def trafgen_config(frames: list[bytes]) -> str:
    """A trafgen packet configuration: one `{ 0x.., ... }` block per frame, sent round robin."""
    blocks = []
    for fr in frames:
        body = ", ".join(f"0x{b:02x}" for b in fr)
        blocks.append("{ " + body + " }")
    return "\n".join(blocks) + "\n"


def trafgen_send(
    pair: VethPair, frames: list[bytes], count: int | None = None, *, gap_us: int | None = None,
    wait: bool = True,
) -> subprocess.Popen:  # fmt: skip
    """Send frames from the far end with trafgen (one CPU, round robin, count frames in all)."""
    fd, cfg = tempfile.mkstemp(prefix="fp-trafgen-", suffix=".cfg")
    with os.fdopen(fd, "w") as f:
        f.write(trafgen_config(frames))
    n = len(frames) if count is None else count
    cmd = ["ip", "netns", "exec", pair.netns, "trafgen", "--dev", pair.peer, "--conf", cfg,
           "--num", str(n), "--cpus", "1", "--no-sock-mem", "--notouch-irq",
           "--no-cpu-stats"]  # fmt: skip
    if max(len(fr) for fr in frames) > 2048:
        cmd.append("--jumbo-support")
    if gap_us is not None:
        cmd += ["--gap", f"{gap_us}us"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.frames_path = cfg  # type: ignore[attr-defined]
    if wait:
        finish(proc)
    return proc


def finish(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait for a sender, remove its input file, and raise with its stderr if it failed."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        path = getattr(proc, "frames_path", None)
        if path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    if proc.returncode != 0:
        raise RuntimeError(f"sender {proc.args[4:6]} failed ({proc.returncode}): {err.strip()}")


# -- known frames ---------------------------------------------------------------------------

DST_OTHER = bytes.fromhex("020000000001")  # unicast, not the receiver's MAC: PACKET_OTHERHOST
SRC_MAC = bytes.fromhex("020000000002")
BROADCAST = b"\xff" * 6
ETH_P_LOCAL = 0x88B5  # IEEE local experimental EtherType: nothing in the kernel answers it
SIZES = (60, 61, 64, 100, 128, 255, 256, 512, 1000, 1024, 1500, 1514)
JUMBO = 9014  # a full frame at MTU 9000


def known_frames(sizes: tuple[int, ...] = (*SIZES, JUMBO), dst: bytes = DST_OTHER) -> list[bytes]:
    """Frames of the given sizes, each with its sequence number after the EtherType."""
    out = []
    for seq, size in enumerate(sizes):
        hdr = dst + SRC_MAC + struct.pack("!HI", ETH_P_LOCAL, seq)
        out.append(hdr + bytes((seq * 7 + i) & 0xFF for i in range(size - len(hdr))))
    return out


def frame_seq(frame: bytes, tagged: bool = False) -> int:
    """The sequence number known_frames/vlan_frame/udp_frame put in a frame."""
    off = 18 if tagged else 14
    return struct.unpack_from("!I", frame, off)[0]


def vlan_frame(seq: int, tci: int, tpid: int = 0x8100, size: int = 100) -> bytes:
    """An 802.1Q (or 802.1ad with tpid=0x88a8) tagged frame as it is on the wire."""
    hdr = BROADCAST + SRC_MAC + struct.pack("!HHHI", tpid, tci, ETH_P_LOCAL, seq)
    return hdr + bytes((seq + i) & 0xFF for i in range(size - len(hdr)))


def _ip_checksum(hdr: bytes) -> int:
    total = sum(struct.unpack(f"!{len(hdr) // 2}H", hdr))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(
    sport: int, dport: int, seq: int, *, src_ip: str = "10.77.0.2", dst_ip: str = "10.77.0.1",
    size: int = 100, dst: bytes = DST_OTHER,
) -> bytes:  # fmt: skip
    """An Ethernet/IPv4/UDP frame with seq as the first 4 payload bytes (no UDP checksum)."""
    payload_len = max(size - 14 - 20 - 8, 4)
    payload = struct.pack("!I", seq) + bytes(payload_len - 4)
    udp = struct.pack("!HHHH", sport, dport, 8 + payload_len, 0)
    src = bytes(int(x) for x in src_ip.split("."))
    dsta = bytes(int(x) for x in dst_ip.split("."))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + payload_len, seq & 0xFFFF, 0, 64, 17, 0,
                     src, dsta)  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
    return dst + SRC_MAC + struct.pack("!H", 0x0800) + ip + udp + payload


def udp_seq(frame: bytes) -> int:
    """The seq udp_frame put in the payload."""
    return struct.unpack_from("!I", frame, 14 + 20 + 8)[0]


# -- AF_XDP and the command line ----------------------------------------------------------

CLI = "import sys, fragpool.cli; sys.exit(fragpool.cli.main(sys.argv[1:]))"


def xdp_attached(ifname: str) -> bool:
    """Whether any XDP program is on ``ifname`` (ip's JSON has an "xdp" key then)."""
    out = subprocess.run(["ip", "-j", "-d", "link", "show", "dev", ifname], capture_output=True)
    return "xdp" in json.loads(out.stdout)[0]


def start_attached(ifname: str, *args: str, timeout: float = 10) -> subprocess.Popen:
    """``fragpool ARGS`` in a process of its own, once its XDP program is on ``ifname``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    while not xdp_attached(ifname) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    return proc


def collect(cap, n: int, timeout: float = 5.0) -> list:
    """Up to ``n`` skbs from a live capture, within ``timeout`` seconds."""
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += cap.recv_batch(64, 0.05)
    return got


def free_all(skbs) -> None:
    for skb in skbs:
        skb.free()
