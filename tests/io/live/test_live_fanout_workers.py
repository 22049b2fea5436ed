"""PACKET_FANOUT across worker processes: each worker its own open_live and pool.

The far end of the test's veth pair sends 16 UDP flows; two worker processes join one
hash fanout group. Every frame must reach exactly one worker, byte-exact, each flow must
stay on one worker, and each worker must end with its pool empty and its ring clean.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import pytest
from netns import finish, trafgen_send, udp_frame, udp_seq

from fragpool.io.live.capture import MODES

live = pytest.mark.live

WORKER = r"""
import json, select, sys
import fragpool

ifname, mode, group = sys.argv[1], sys.argv[2], int(sys.argv[3])
cap = fragpool.open_live(ifname, mode=mode, fanout=(group, "hash"))
print("ready", flush=True)
got = []
while not select.select([sys.stdin], [], [], 0)[0]:  # stdin closes: the sender is done
    for skb in cap.recv_batch(64, 0.02):
        got.append(bytes(skb).hex())
        skb.free()
while batch := cap.recv_batch(64, 0.2):
    for skb in batch:
        got.append(bytes(skb).hex())
        skb.free()
drops = cap.stats()["drops"]
report = cap.close()
print(json.dumps({"frames": got, "drops": drops, "clean": report.clean,
                  "pages_in_flight": report.pages_in_flight}))
"""


def _start_worker(ifname: str, mode: str, group: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, ifname, mode, str(group)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read()
    return proc


@live
@pytest.mark.parametrize("mode", MODES)
def test_fanout_hash_spreads_flows_over_worker_processes(veth, mode):
    flows, per_flow = 16, 40
    frames = [
        udp_frame(4000 + f, 7000, f * per_flow + k, src_ip=f"10.78.{f}.2")
        for k in range(per_flow)
        for f in range(flows)
    ]
    group = secrets.randbelow(0xFFFF)
    workers = [_start_worker(veth.local, mode, group) for _ in range(2)]
    try:
        finish(trafgen_send(veth, frames, gap_us=20, wait=False))
        results = []
        for proc in workers:
            out, err = proc.communicate(input="", timeout=30)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
    got = [[bytes.fromhex(h) for h in r["frames"]] for r in results]
    assert all(r["drops"] == 0 for r in results)
    seqs = [[udp_seq(f) for f in frames_of] for frames_of in got]
    assert sorted(seqs[0] + seqs[1]) == list(range(len(frames)))  # none lost, none twice
    flows_of = [{s // per_flow for s in worker} for worker in seqs]
    assert flows_of[0] and flows_of[1] and not flows_of[0] & flows_of[1]
    by_seq = {udp_seq(f): f for f in frames}
    assert all(f == by_seq[udp_seq(f)] for f in got[0] + got[1])
    assert all(r["clean"] and r["pages_in_flight"] == 0 for r in results)
