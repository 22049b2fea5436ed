"""bench_live: live receive over a veth pair: fragpool's four modes, bare C receivers, peers.

The topology (docs/BENCHMARKS.md says why): trafgen sends from the far end of a veth pair,
its one worker on CPU 0; each receiver runs alone in a process of its own on the other
CPUs. On veth the kernel's receive work for a frame (the stack, the packet socket's copy
into its queue or ring, the XDP program and AF_XDP's copy into the UMEM) runs in softirq on
the sender's CPU, inside its transmit, so it shows as a slower sender. It is charged to the
receiver that caused it: the sender runs alone first ("no receiver", its bare rate), and in
a receiver's run the sender CPU's time beyond what its offered frames take at the bare rate
(elapsed - offered / bare rate) is added to the receiver's own user+system time (getrusage,
from the moment it is ready until its loop ends). CPU ns/pkt is that sum over the packets
received; "of it softirq" is the sender-side part, "kernel %" the kernel's share of the sum.

Receivers: fragpool.open_live with its defaults in recv_into, recvmmsg, tpacket_v3 and
af_xdp mode (a byte of each frame read in place through ``skb[12]``, each batch of 64 freed
with kfree_skb_list; af_xdp in veth's native XDP), compiled and once more interpreted
("pure" rows, FRAGPOOL_NO_EXTENSIONS=1); their anchors, small C programs doing the same
set-up and the same work (benchmarks/live_anchor.c: "C recvmsg", "C recvmmsg",
"C tpacket_v3", "C af_xdp"); scapy's sniff (store=False, a counting prn) and, where
installed, pcapy-ng (libpcap, TPACKET_V3 with a buffer the size of fragpool's ring).

Each receiver first takes the sender's full rate (64- and 1500-byte frames, --seconds
each): offered (the sender end's tx_packets + tx_dropped), received, loss, CPU per packet.
Then the compiled modes, the anchors and pcapy-ng take a few fixed offered rates (--rates,
64-byte frames, evenly spaced by benchmarks/paced_sender.c: trafgen's --rate is an average
made of full-speed bursts) and the highest rate at which each loses nothing is its
zero-loss rate.

Targets (compiled): af_xdp spends <= 0.5x pcapy-ng's CPU per packet and less than
tpacket_v3, and loses nothing wherever C af_xdp loses nothing; recvmmsg <= 1.1x C recvmmsg,
recv_into <= 1.2x C recvmsg, tpacket_v3 <= 1.1x C tpacket_v3 (CPU per packet); every mode's
zero-loss rate >= 0.9x its anchor's; every mode receives >= 50x what scapy's sniff does.

Needs root, ip, trafgen, taskset and gcc. ``--runs N`` repeats everything and prints medians.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # netns: the veth pair and frame helpers

from _common import Verdicts, table  # noqa: E402

FRAGPOOL_MODES = ("recv_into", "recvmmsg", "tpacket_v3", "af_xdp")
PURE_SUFFIX = " (pure)"  # the same mode with fragpool's sources interpreted
#: Each fragpool mode's floor: the C receiver of its own kind (live_anchor.c's modes).
ANCHOR_OF = {
    "recv_into": "C recvmsg",
    "recvmmsg": "C recvmmsg",
    "tpacket_v3": "C tpacket_v3",
    "af_xdp": "C af_xdp",
}
#: What each anchor may spend, as a multiple of its CPU per packet (issue 18).
ANCHOR_BOUND = {"recv_into": 1.2, "recvmmsg": 1.1, "tpacket_v3": 1.1}
SENDER_CPU = 0  # trafgen --cpus 1 binds its one worker to CPU 0
RING = {"block_size": 1 << 20, "block_nr": 16}  # open_live's default ring (16 MiB), for libpcap
SLACK = 1.0  # seconds a receiver keeps reading after the sender stops
BUILD = HERE.parent / "build" / "bench"  # live_anchor and paced_sender, built by make bench
DEFAULT_RATES = "200k,400k,600k,800k,1M"  # the offered rates (pps) of the zero-loss search
BARE = "(no receiver)"  # the sender alone: its bare rate


# -- receivers (each runs in a child process: `bench_live.py --receiver KIND IFACE SECONDS`) --


def _fragpool(kind: str, iface: str, seconds: float) -> dict:
    from fragpool.io.live.capture import open_live
    from fragpool.skb import kfree_skb_list

    cap = open_live(iface, mode=kind)  # the defaults a user gets (a 16 MiB ring)
    ready()
    n = 0
    end = time.monotonic() + seconds
    recv = cap.recv_batch
    while time.monotonic() < end:
        batch = recv(64, 0.05)
        n += len(batch)
        for skb in batch:
            skb[12]  # read each frame's bytes (its EtherType's first byte) in place
        kfree_skb_list(batch)
    st = cap.stats()
    report = cap.close()
    return {"received": n, "drops": st["drops"], "clean": report.clean}


def _scapy(iface: str, seconds: float) -> dict:
    from scapy.all import conf, sniff

    conf.verb = 0
    count = [0]

    def seen(_pkt: object) -> None:
        count[0] += 1

    ready()
    sniff(iface=iface, prn=seen, store=False, timeout=seconds)
    return {"received": count[0]}


def _pcapy(iface: str, seconds: float) -> dict:
    import pcapy

    p = pcapy.create(iface)
    p.set_snaplen(262144)
    p.set_buffer_size(RING["block_size"] * RING["block_nr"])
    p.set_timeout(50)
    p.activate()
    p.setnonblock(1)  # with TPACKET_V3 a blocking dispatch waits for traffic forever
    poller = select.poll()
    poller.register(p.getfd(), select.POLLIN)
    count = [0]

    def seen(_hdr: object, _data: bytes) -> None:
        count[0] += 1

    ready()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if poller.poll(50):
            p.dispatch(-1, seen)
    _recv, drops, _ifdrop = p.stats()
    return {"received": count[0], "drops": drops}


_cpu_at_ready = [0.0, 0.0]


def cpu_seconds() -> tuple[float, float]:
    """This process's CPU time so far: (user + system, system alone)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime, use.ru_stime


def ready() -> None:
    """Tell the orchestrator the receiver is set up; its CPU time counts from here."""
    _cpu_at_ready[:] = cpu_seconds()
    print("ready", flush=True)


def receiver_main(kind: str, iface: str, seconds: float) -> None:
    faulthandler.dump_traceback_later(seconds + 30, exit=True)  # a stuck receiver says where
    others = os.sched_getaffinity(0) - {SENDER_CPU}
    if others:  # every receiver runs on the CPUs trafgen does not use
        os.sched_setaffinity(0, others)
    mode = kind.removesuffix(PURE_SUFFIX)
    if mode in FRAGPOOL_MODES:
        result = _fragpool(mode, iface, seconds)
        import fragpool

        result["compiled"] = fragpool.compiled
    elif kind == "scapy":
        result = _scapy(iface, seconds)
    else:
        result = _pcapy(iface, seconds)
    total, kernel = cpu_seconds()
    result["cpu_s"] = total - _cpu_at_ready[0]
    result["sys_s"] = kernel - _cpu_at_ready[1]
    print(json.dumps(result), flush=True)


# -- the orchestrator -------------------------------------------------------------------------


def pcapy_installed() -> bool:
    try:
        import pcapy  # noqa: F401
    except ImportError:
        return False
    return True


def c_program(name: str) -> Path:
    """benchmarks/NAME.c built with gcc -O2 into build/bench/ when missing or stale."""
    source = HERE / f"{name}.c"
    binary = BUILD / name
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["gcc", "-O2", "-Wall", "-o", str(binary), str(source)], check=True,
                       timeout=120)  # fmt: skip
    return binary


def receiver_cpus() -> set[int]:
    """The CPUs receivers run on: all but the sender's."""
    return (os.sched_getaffinity(0) - {SENDER_CPU}) or os.sched_getaffinity(0)


def sent_packets(pair) -> int:
    """Frames the sender's end of the pair put out: its tx_packets plus tx_dropped.

    Counted on the sender's side, so frames the receiving side's backlog dropped count as
    offered (and lost) for every receiver alike.
    """
    out = subprocess.run(
        ["ip", "-n", pair.netns, "-s", "-j", "link", "show", "dev", pair.peer],
        capture_output=True, text=True, check=True, timeout=10,
    )  # fmt: skip
    tx = json.loads(out.stdout)[0]["stats64"]["tx"]
    return tx["packets"] + tx["dropped"]


def receiver_command(kind: str, iface: str, seconds: float) -> tuple[list[str], dict]:
    """The child process that runs receiver ``kind``, and its environment."""
    env = {k: v for k, v in os.environ.items() if k != "FRAGPOOL_NO_EXTENSIONS"}
    if kind.startswith("C "):
        cmd = ["taskset", "-c", ",".join(map(str, sorted(receiver_cpus()))),
               str(c_program("live_anchor")), kind[2:], iface, str(seconds)]  # fmt: skip
        return cmd, env
    if kind.endswith(PURE_SUFFIX):
        env["FRAGPOOL_NO_EXTENSIONS"] = "1"
    return [sys.executable, __file__, "--receiver", kind, iface, str(seconds)], env


def send(pair, frame: bytes, seconds: float, rate: int | None = None) -> tuple[int, float]:
    """Send ``frame`` from the far end for ``seconds``: trafgen as fast as it can, or
    paced_sender at an even ``rate`` pps; (frames offered, seconds it ran)."""
    from netns import trafgen_config

    before = sent_packets(pair)
    if rate is not None:
        cmd = ["ip", "netns", "exec", pair.netns, "taskset", "-c", str(SENDER_CPU),
               str(c_program("paced_sender")), pair.peer, str(rate), str(seconds),
               frame.hex()]  # fmt: skip
        t0 = time.monotonic()
        subprocess.run(cmd, check=True, capture_output=True, timeout=seconds + 30)
        return sent_packets(pair) - before, time.monotonic() - t0
    fd, cfg = tempfile.mkstemp(prefix="fp-bench-", suffix=".cfg")
    with os.fdopen(fd, "w") as f:
        f.write(trafgen_config([frame]))
    cmd = ["ip", "netns", "exec", pair.netns, "trafgen", "--dev", pair.peer, "--conf", cfg,
           "--cpus", "1", "--no-sock-mem", "--notouch-irq", "--no-cpu-stats"]  # fmt: skip
    sender = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    t0 = time.monotonic()
    time.sleep(seconds)
    os.killpg(sender.pid, signal.SIGINT)  # trafgen and the worker it forked stop on SIGINT
    try:
        sender.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(sender.pid, signal.SIGKILL)
        sender.wait()
    elapsed = time.monotonic() - t0
    os.unlink(cfg)
    return sent_packets(pair) - before, elapsed


def one(pair, kind: str, frame: bytes, seconds: float, rate: int | None = None,
        base_pps: float = 0.0) -> dict:  # fmt: skip
    """Run one receiver while trafgen sends `frame` for `seconds` (at `rate` pps, or as fast
    as it can); its figures. ``base_pps`` is the sender's full rate with no receiver: the
    sender's CPU time beyond what that rate takes is the receive work this receiver's
    socket made the kernel do there, charged to the receiver (full-rate runs only)."""
    cmd, env = receiver_command(kind, pair.local, seconds + SLACK + 0.5)
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)  # fmt: skip
    line = child.stdout.readline()
    if line.strip() != "ready":
        child.kill()
        raise RuntimeError(f"{kind} receiver did not start: {line}{child.stderr.read()}")
    time.sleep(0.2)
    offered, elapsed = send(pair, frame, seconds, rate)
    out, err = child.communicate(timeout=seconds + 30)
    if child.returncode != 0:
        why = err.strip() or f"exit status {child.returncode}"
        raise RuntimeError(f"{kind} receiver failed: {why}")
    result = json.loads(out.strip().splitlines()[-1])
    got = result["received"]
    # the sender's CPU was busy all along: what it did beyond sending at its bare rate
    softirq_s = elapsed - offered / base_pps if base_pps and rate is None else 0.0
    cpu_s = result["cpu_s"] + softirq_s
    result.update(
        offered=offered,
        offered_pps=offered / elapsed,
        pps=got / elapsed,
        loss=100.0 * max(0, offered - got) / offered if offered else 0.0,
        cpu_ns=1e9 * cpu_s / got if got else float("inf"),
        kernel_pct=100.0 * (result["sys_s"] + softirq_s) / cpu_s if cpu_s else 0.0,
        softirq_ns=1e9 * softirq_s / got if got else float("inf"),
    )
    if "compiled" in result and result["compiled"] == kind.endswith(PURE_SUFFIX):
        raise RuntimeError(f"{kind} receiver ran {'compiled' if result['compiled'] else 'pure'}")
    return result


def parse_rates(text: str) -> list[int]:
    """'150k,300k,1M' -> [150000, 300000, 1000000]."""
    scale = {"k": 1_000, "m": 1_000_000}
    rates = []
    for part in text.split(","):
        part = part.strip().lower()
        mult = scale.get(part[-1:], 1)
        rates.append(int(float(part.rstrip("km")) * mult))
    return sorted(rates)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="send time per receiver")
    ap.add_argument("--runs", type=int, default=1, help="repeat and report medians")
    ap.add_argument("--rates", default=DEFAULT_RATES,
                    help="offered rates (pps) of the zero-loss search; '' skips it")  # fmt: skip
    ap.add_argument("--rate-seconds", type=float, default=2.0, help="send time per rate")
    ap.add_argument("--receiver", nargs=3, metavar=("KIND", "IFACE", "SECONDS"),
                    help=argparse.SUPPRESS)  # fmt: skip
    ap.add_argument("--only", nargs="+", metavar="KIND", help="run only these receivers")
    args = ap.parse_args()
    if args.receiver:
        receiver_main(args.receiver[0], args.receiver[1], float(args.receiver[2]))
        return 0
    if os.geteuid() != 0:
        print("bench_live: needs root (a veth pair in a network namespace, AF_PACKET)")
        return 2
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [t for t in ("ip", "trafgen", "gcc", "taskset")
               if shutil.which(t, path=path) is None]  # fmt: skip
    if missing:
        print(f"bench_live: needs {', '.join(missing)} (run `make tools`)")
        return 2
    from netns import VethPair, udp_frame

    c_program("live_anchor")
    c_program("paced_sender")
    kinds = [*FRAGPOOL_MODES, *(m + PURE_SUFFIX for m in FRAGPOOL_MODES)]
    kinds += [*ANCHOR_OF.values(), "scapy"]
    kinds += ["pcapy-ng"] if pcapy_installed() else []
    if args.only:
        kinds = [k for k in kinds if k in args.only]
    if "pcapy-ng" not in kinds:
        print("pcapy-ng not installed (make bench installs it): compared without it\n")
    rates = parse_rates(args.rates) if args.rates else []
    laddered = [k for k in kinds if k in FRAGPOOL_MODES or k.startswith("C ") or k == "pcapy-ng"]
    results: dict[tuple[int, str], list[dict]] = {}
    ladder: dict[tuple[int, str], list[dict]] = {}
    with VethPair(mtu=1500) as pair:
        for _ in range(args.runs):
            for size in (64, 1500):
                frame = udp_frame(1024, 2048, 0, size=size)
                offered, elapsed = send(pair, frame, args.seconds)  # no receiver: the bare rate
                base = offered / elapsed
                results.setdefault((size, BARE), []).append({"offered_pps": base})
                for kind in kinds:
                    results.setdefault((size, kind), []).append(
                        one(pair, kind, frame, args.seconds, base_pps=base)
                    )
            frame = udp_frame(1024, 2048, 0, size=64)
            for rate in rates:
                for kind in laddered:
                    ladder.setdefault((rate, kind), []).append(
                        one(pair, kind, frame, args.rate_seconds, rate)
                    )
    return report(results, ladder, kinds, rates, args)


def zero_loss_rate(ladder: dict, kind: str, rates: list[int]) -> int:
    """The highest offered rate at which ``kind`` lost nothing (the median of its runs,
    as the table shows; 0 if none)."""
    best = 0
    for rate in rates:
        runs = ladder.get((rate, kind), [])
        if runs and statistics.median(r["loss"] for r in runs) == 0:
            best = rate
    return best


def report(results: dict, ladder: dict, kinds: list[str], rates: list[int],
           args: argparse.Namespace) -> int:  # fmt: skip
    fields = ("offered_pps", "pps", "loss", "cpu_ns", "kernel_pct", "softirq_ns")
    med = {
        key: {f: statistics.median(r[f] for r in runs) for f in fields if f in runs[0]}
        for key, runs in results.items()
    }
    what = f"median of {args.runs} runs" if args.runs > 1 else "one run"
    print(f"bench_live: trafgen over a veth pair, {args.seconds:g} s per receiver ({what})\n")
    verdicts = Verdicts()
    for size in (64, 1500):
        scapy = med.get((size, "scapy"), {}).get("pps", 0)
        rows = []
        for kind in kinds:
            m = med[(size, kind)]
            ratio = m["pps"] / scapy if scapy else float("inf")
            mode = kind.removesuffix(PURE_SUFFIX)
            anchor = med.get((size, ANCHOR_OF.get(mode, "")))
            floor = f"{m['cpu_ns'] / anchor['cpu_ns']:.2f}x" if anchor else "-"
            rows.append((kind, int(m["offered_pps"]), int(m["pps"]), round(m["loss"], 2),
                         round(m["cpu_ns"]), round(m["softirq_ns"]), round(m["kernel_pct"]),
                         floor, round(ratio, 1)))  # fmt: skip
        bare = med.get((size, BARE), {}).get("offered_pps", 0)
        print(f"{size}-byte frames, the sender's full rate ({bare / 1e3:.0f}k pps with no "
              "receiver)")  # fmt: skip
        heads = ("receiver", "offered pps", "received pps", "loss %", "CPU ns/pkt",
                 "of it softirq", "kernel %", "x its C", "x scapy")  # fmt: skip
        print(table(heads, rows))
        for mode in FRAGPOOL_MODES:
            pure = med.get((size, mode + PURE_SUFFIX))
            if pure and (size, mode) in med:
                ratio = pure["cpu_ns"] / med[(size, mode)]["cpu_ns"]
                print(f"  {mode}: pure Python spends {ratio:.2f}x the CPU per packet of compiled")
        print()
    if rates:
        print(f"64-byte frames at fixed offered rates, {args.rate_seconds:g} s each: loss %")
        laddered = sorted({k for _, k in ladder}, key=kinds.index)
        rows = []
        for kind in laddered:
            losses = []
            for rate in rates:
                runs = ladder[(rate, kind)]
                losses.append(round(statistics.median(r["loss"] for r in runs), 2))
            rows.append((kind, *losses, zero_loss_rate(ladder, kind, rates)))
        heads = ("receiver", *(f"{r / 1e3:g}k pps" for r in rates), "zero-loss pps")
        print(table(heads, rows))
        print()
    for size in (64, 1500):
        scapy = med.get((size, "scapy"), {}).get("pps", 0)
        for kind in FRAGPOOL_MODES:
            if not scapy or (size, kind) not in med:
                continue
            ratio = med[(size, kind)]["pps"] / scapy
            verdicts.check(f"{size}B {kind} >= 50x scapy sniff", ratio >= 50, f"{ratio:.1f}x")
        for mode, bound in ANCHOR_BOUND.items():
            ours, floor = med.get((size, mode)), med.get((size, ANCHOR_OF[mode]))
            if ours and floor:
                verdicts.check(
                    f"{size}B {mode} CPU per packet <= {bound}x {ANCHOR_OF[mode]}",
                    ours["cpu_ns"] <= bound * floor["cpu_ns"],
                    f"{ours['cpu_ns']:.0f} ns vs {floor['cpu_ns']:.0f} ns "
                    f"({ours['cpu_ns'] / floor['cpu_ns']:.2f}x)",
                )
        ours, floor = med.get((size, "af_xdp")), med.get((size, "C af_xdp"))
        if ours and floor and floor["loss"] == 0:
            verdicts.check(f"{size}B af_xdp loses nothing where C af_xdp loses nothing",
                           ours["loss"] == 0, f"{ours['loss']:.2f}% at "
                           f"{ours['offered_pps'] / 1e3:.0f}k pps")  # fmt: skip
        theirs = med.get((size, "pcapy-ng"))
        if theirs is None:
            continue
        if (size, "tpacket_v3") in med:
            ours = med[(size, "tpacket_v3")]
            verdicts.check(
                f"{size}B tpacket_v3 CPU per packet <= pcapy-ng's",
                ours["cpu_ns"] <= theirs["cpu_ns"],
                f"{ours['cpu_ns']:.0f} ns vs {theirs['cpu_ns']:.0f} ns",
            )
        if (size, "af_xdp") in med:  # issue 18: the mode that exists to be the fastest
            ours = med[(size, "af_xdp")]
            verdicts.check(
                f"{size}B af_xdp CPU per packet <= 0.5x pcapy-ng's",
                ours["cpu_ns"] <= 0.5 * theirs["cpu_ns"],
                f"{ours['cpu_ns']:.0f} ns vs {theirs['cpu_ns']:.0f} ns",
            )
            tp = med.get((size, "tpacket_v3"))
            if tp is not None:
                verdicts.check(
                    f"{size}B af_xdp CPU per packet below tpacket_v3's",
                    ours["cpu_ns"] < tp["cpu_ns"],
                    f"{ours['cpu_ns']:.0f} ns vs {tp['cpu_ns']:.0f} ns",
                )
    for mode in FRAGPOOL_MODES:
        anchor = ANCHOR_OF[mode]
        if rates and any(k == mode for _, k in ladder) and any(k == anchor for _, k in ladder):
            ours, floor = zero_loss_rate(ladder, mode, rates), zero_loss_rate(ladder, anchor, rates)
            verdicts.check(f"{mode} zero-loss rate >= 0.9x {anchor}'s", ours >= 0.9 * floor,
                           f"{ours / 1e3:g}k vs {floor / 1e3:g}k pps")  # fmt: skip
    for rate in rates:  # af_xdp keeps up wherever its anchor does
        floor = ladder.get((rate, "C af_xdp"))
        ours = ladder.get((rate, "af_xdp"))
        if floor and ours and statistics.median(r["loss"] for r in floor) == 0:
            lost = statistics.median(r["loss"] for r in ours)
            verdicts.check(f"af_xdp loses nothing at {rate / 1e3:g}k pps (C af_xdp loses "
                           "nothing)", lost == 0, f"{lost:.2f}%")  # fmt: skip
    print(verdicts.summary())
    return verdicts.status()


if __name__ == "__main__":
    sys.exit(main())
