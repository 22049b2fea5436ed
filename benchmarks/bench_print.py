"""bench_print: `fragpool capture` printing and saving against tcpdump, whole commands timed.

Each row runs a command line as a user types it, in a fresh process, fragpool's and
tcpdump's in turn within every run (a slow phase of the machine hits both), and reports the
median wall time of --runs runs and the ratio to tcpdump's in the same runs:

- ``capture -n -r F > /dev/null`` against ``tcpdump -n -r F > /dev/null`` (target <= 1.0x);
- ``capture -r F -w OUT udp`` against ``tcpdump -r F -w OUT udp``, OUT a file in --out-dir
  (target <= 1.5x); once more with OUT /dev/null, where only reading, filtering and
  formatting the records count (no target: it shows what the file system's share hides);
- ``capture -r F -c 10`` (target <= 0.06 s wall; ``python -c pass`` is printed beside it);
- the printing row once more with TZ set for both (see TZ_ROW: without it tcpdump's time
  is mostly a stat(2) of /etc/localtime per packet).

F is bench_read's 1,000,000-packet IMIX file (7:4:1 UDP frames of 64, 576 and 1500 bytes),
made on first use. Compiled and pure rows (FRAGPOOL_NO_EXTENSIONS=1) are both printed; the
targets are the compiled rows'. The commands run with PYTHONUNBUFFERED and
PYTHONDONTWRITEBYTECODE removed from the environment (a user's shell has neither; without
bytecode files every start compiles fragpool's sources again), after one untimed run.

``--live`` adds printing from an interface: ``capture -i IF -n > /dev/null`` and
``tcpdump -i IF -n > /dev/null`` on the near end of a veth pair while paced_sender offers
64-byte frames at each --rates rate from the far end; loss is offered minus what each
reports captured (target: fragpool loses no more than tcpdump). Needs root, ip and gcc.
"""

from __future__ import annotations

import argparse
import os
import re
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
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import Verdicts, table  # noqa: E402

#: The printing row again with TZ set: glibc's localtime, with TZ unset, stats
#: /etc/localtime on every call, and tcpdump calls it once a packet (strace: 90% of its
#: system calls); with TZ set it reads the zone once. fragpool calls it once a second.
TZ_ROW = "-n -r F > /dev/null, TZ set"
PYTHON = sys.executable
FRAGPOOL = [PYTHON, "-m", "fragpool", "capture"]


def environment(pure: bool) -> dict:
    dropped = ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "FRAGPOOL_NO_EXTENSIONS")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PYTHONPATH"] = str(HERE.parent)
    if pure:
        env["FRAGPOOL_NO_EXTENSIONS"] = "1"
    return env


def wall(cmd: list[str], env: dict | None = None) -> float:
    """Seconds ``cmd`` takes, its standard output to /dev/null."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                          timeout=600)  # fmt: skip
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.decode()}")
    return took


def offline_rows(path: str, out_dir: str, runs: int, pure_runs: int) -> dict[str, dict]:
    """Median seconds of each command: {row: {"fragpool", "fragpool (pure)", "tcpdump"}}."""
    tcpdump = shutil.which("tcpdump") or "/usr/bin/tcpdump"
    out_ours, out_theirs = os.path.join(out_dir, "ours.pcap"), os.path.join(out_dir, "theirs.pcap")
    rows = {
        "-n -r F > /dev/null": (["-n", "-r", path], [tcpdump, "-n", "-r", path]),
        TZ_ROW: (["-n", "-r", path], [tcpdump, "-n", "-r", path]),
        "-r F -w OUT udp": (["-r", path, "-w", out_ours, "udp"],
                            [tcpdump, "-r", path, "-w", out_theirs, "udp"]),
        "-r F -w /dev/null udp": (["-r", path, "-w", "/dev/null", "udp"],
                                  [tcpdump, "-r", path, "-w", "/dev/null", "udp"]),
        "-r F -c 10": (["-r", path, "-c", "10"], None),
    }  # fmt: skip
    compiled, pure = environment(False), environment(True)
    samples: dict[str, dict[str, list[float]]] = {r: {} for r in rows}
    for env in (compiled, pure):  # bytecode written, page cache warm
        wall([*FRAGPOOL, "-r", path, "-c", "10"], env)
    wall([tcpdump, "-n", "-r", path])
    zoned = {"TZ": ":/etc/localtime"}  # the same zone, read once rather than per packet
    for i in range(runs):
        for row, (ours, theirs) in rows.items():
            got = samples[row]
            tz = zoned if row == TZ_ROW else {}
            got.setdefault("fragpool", []).append(wall([*FRAGPOOL, *ours], {**compiled, **tz}))
            if i < pure_runs and row != TZ_ROW:
                got.setdefault("fragpool (pure)", []).append(wall([*FRAGPOOL, *ours], pure))
            if theirs is not None:
                got.setdefault("tcpdump", []).append(wall(theirs, {**os.environ, **tz}))
            else:
                got.setdefault("python -c pass", []).append(wall([PYTHON, "-c", "pass"], compiled))
    for row in rows:
        print(f"  {row}: " + "; ".join(f"{k} " + " ".join(f"{s:.3f}" for s in v)
                                       for k, v in samples[row].items()))  # fmt: skip
    return {row: {k: statistics.median(v) for k, v in got.items()} for row, got in samples.items()}


# -------------------------------------------------------------------------- live printing
def captured(stderr: str) -> int:
    """The 'N packets captured' both commands print when they stop."""
    m = re.search(r"(\d+) packets captured", stderr)
    if not m:
        raise RuntimeError(f"no count in: {stderr[-500:]}")
    return int(m.group(1))


def live_rows(rates: list[int], seconds: float, runs: int) -> dict[int, dict[str, list[float]]]:
    """Loss (%) of each printer at each offered rate: {rate: {"fragpool": [...], ...}}."""
    from bench_live import c_program, receiver_cpus, send
    from netns import VethPair, udp_frame

    c_program("paced_sender")
    cpus = ",".join(map(str, sorted(receiver_cpus())))
    tcpdump = shutil.which("tcpdump") or "/usr/bin/tcpdump"
    frame = udp_frame(1024, 2048, 0, size=64)
    out: dict[int, dict[str, list[float]]] = {}
    with VethPair(mtu=1500) as pair:
        printers = {
            "fragpool": ["taskset", "-c", cpus, *FRAGPOOL, "-i", pair.local, "-n"],
            "tcpdump": ["taskset", "-c", cpus, tcpdump, "-i", pair.local, "-n"],
        }
        for _ in range(runs):
            for rate in rates:
                for name, cmd in printers.items():
                    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, text=True,
                                            env=environment(False))  # fmt: skip
                    time.sleep(1.5)  # started and listening (both print a line: not waited on)
                    offered, _elapsed = send(pair, frame, seconds, rate)
                    time.sleep(0.5)
                    proc.send_signal(signal.SIGINT)
                    _, err = proc.communicate(timeout=30)
                    got = captured(err)
                    loss = 100.0 * max(0, offered - got) / offered if offered else 0.0
                    out.setdefault(rate, {}).setdefault(name, []).append(loss)
    return out


def parse_rates(text: str) -> list[int]:
    scale = {"k": 1_000, "m": 1_000_000}
    parts = [p.strip().lower() for p in text.split(",")]
    return sorted(int(float(p.rstrip("km")) * scale.get(p[-1:], 1)) for p in parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs of every command (medians)")
    ap.add_argument("--pure-runs", type=int, default=1, help="of them, with the pure rows")
    ap.add_argument("--packets", type=int, default=1_000_000, help="packets in the IMIX file")
    ap.add_argument("--out-dir", default=None, help="where -w OUT goes (default: a temp dir)")
    ap.add_argument("--live", action="store_true", help="also print from a veth (root)")
    ap.add_argument("--rates", default="200k,600k,1M", help="--live's offered rates (pps)")
    ap.add_argument("--seconds", type=float, default=3.0, help="--live's send time per rate")
    args = ap.parse_args()
    if shutil.which("tcpdump") is None and not os.path.exists("/usr/bin/tcpdump"):
        print("bench_print: needs tcpdump (run `make tools`)")
        return 2
    from bench_read import capture_path

    path = capture_path(args.packets)
    verdicts = Verdicts()
    with tempfile.TemporaryDirectory(dir=args.out_dir) as out_dir:
        print(f"bench_print: {args.packets} packets ({path}), -w OUT in {out_dir}")
        medians = offline_rows(path, out_dir, args.runs, min(args.pure_runs, args.runs))
    rows = []
    for row, got in medians.items():
        theirs = got.get("tcpdump")
        ratio = got["fragpool"] / theirs if theirs else None
        rows.append([f"capture {row}", got["fragpool"], got.get("fragpool (pure)", "-"),
                     theirs if theirs else f"pass {got['python -c pass']:.3f}",
                     f"{ratio:.2f}x" if ratio else "-"])  # fmt: skip
    print()
    print(table(["command", "fragpool s", "pure s", "tcpdump s", "ratio"], rows))
    print()
    text = medians["-n -r F > /dev/null"]
    verdicts.check("printing <= 1.0x tcpdump -n -r F", text["fragpool"] <= text["tcpdump"],
                   f"{text['fragpool'] / text['tcpdump']:.2f}x")  # fmt: skip
    saving = medians["-r F -w OUT udp"]
    verdicts.check("-w OUT udp <= 1.5x tcpdump's", saving["fragpool"] <= 1.5 * saving["tcpdump"],
                   f"{saving['fragpool'] / saving['tcpdump']:.2f}x")  # fmt: skip
    start = medians["-r F -c 10"]["fragpool"]
    verdicts.check("-c 10 <= 0.06 s wall", start <= 0.06, f"{start:.3f} s")
    if args.live:
        if os.geteuid() != 0:
            print("bench_print --live: needs root (a veth pair in a network namespace)")
            return 2
        losses = live_rows(parse_rates(args.rates), args.seconds, max(1, min(args.runs, 3)))
        live = []
        for rate, got in losses.items():
            live.append([rate, *(statistics.median(got[k]) for k in ("fragpool", "tcpdump"))])
        print()
        print(table(["offered pps", "fragpool loss %", "tcpdump loss %"], live))
        print()
        worst = max(f - t for _rate, f, t in live)
        verdicts.check("live printing loses no more than tcpdump", worst <= 0.1,
                       f"largest excess {worst:.2f} points (0.1 allowed for noise)")  # fmt: skip
    print(verdicts.summary())
    return verdicts.status()


if __name__ == "__main__":
    sys.exit(main())
