"""`make fuzz`: run every fuzz target for FUZZ_SECONDS each and print what it did.

``python fuzz/run.py --seeds`` writes the seed inputs into fuzz/seeds/ (committed).

Each target (fuzz/fuzz_*.py) runs as its own process under atheris, with the compiled
modules from the clang ASan build (``build/fuzz/lib``, built by the Makefile with
``-fsanitize=address,fuzzer-no-link``) and atheris' ASan runtime preloaded, the way
OSS-Fuzz runs Python C extensions. The corpus grows in build/fuzz/corpus from fuzz/seeds
(real captures: the bundled sample, pcapng files built like the conformance captures, gzip;
libpcap-compiled filters on sample frames) and the crashes already found
(fuzz/regressions); the normal test suite replays both. Prints executions, executions/s,
coverage and crashes per target; a crash is copied into fuzz/regressions/TARGET/ and makes
the run fail.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "fuzz"
TARGETS = ("reader", "bpf", "dissector")


def seeds(target: str, into: Path) -> None:
    """A handful of valid inputs to start from (the fuzzer mutates and keeps what helps)."""
    into.mkdir(parents=True, exist_ok=True)
    sample = (ROOT / "fragpool" / "data" / "sample.pcap").read_bytes()[:6000]
    sys.path.insert(0, str(ROOT / "tests"))
    from captures_util import pcapng_file

    ng = pcapng_file([{"order": o, "ifaces": [(1, 6, 0), (101, 9, 1)],
                       "packets": [(0, 1000, 60, bytes(60)), (1, 2000, 40, bytes(40))]}
                      for o in ("<", ">")])  # fmt: skip
    frames = _frames(sample)
    if target == "reader":
        for name, data in (("sample.pcap", sample), ("sample.pcap.gz", gzip.compress(sample)),
                           ("two.pcapng", ng)):  # fmt: skip
            (into / name).write_bytes(data)
    elif target == "bpf":
        from fragpool.io.bpf import compile as compile_filter

        for i, expr in enumerate(("udp", "tcp port 80", "ip[2:2] > 100", "vlan and ip6",
                                  "ether[0] & 1 != 0", "icmp or arp")):  # fmt: skip
            prog = compile_filter(expr, 1, 262144)
            body = b"".join(struct.pack("=HBBI", *insn) for insn in prog.insns)
            n = len(prog.insns) - 1
            (into / f"prog{i}").write_bytes(bytes([n % 24]) + body + frames[i % len(frames)])
    else:
        for i, frame in enumerate(frames[:8]):
            (into / f"frame{i}").write_bytes(bytes([0]) + frame)


def _frames(pcap: bytes) -> list[bytes]:
    out, at = [], 24
    while at + 16 <= len(pcap) and len(out) < 16:
        incl = struct.unpack_from("<I", pcap, at + 8)[0]
        out.append(pcap[at + 16 : at + 16 + incl])
        at += 16 + incl
    return out


def run(target: str, seconds: int, env: dict[str, str]) -> dict:
    corpus = BUILD / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    crashes = BUILD / "crashes" / target
    shutil.rmtree(crashes, ignore_errors=True)  # this run's findings only
    crashes.mkdir(parents=True)
    extra = [str(p) for p in (ROOT / "fuzz" / "seeds" / target,
                              ROOT / "fuzz" / "regressions" / target) if p.is_dir()]  # fmt: skip
    cmd = [sys.executable, str(ROOT / "fuzz" / f"fuzz_{target}.py"),
           f"-max_total_time={seconds}", f"-dict={ROOT / 'fuzz' / 'capture.dict'}",
           f"-artifact_prefix={crashes}/", "-print_final_stats=1", "-rss_limit_mb=4096",
           "-timeout=10", str(corpus), *extra]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 600)
    log = proc.stdout + proc.stderr
    (BUILD / f"{target}.log").write_text(log)
    stat = dict(re.findall(r"stat::(\w+):\s+(\d+)", log))
    cov = re.findall(r"cov: (\d+)", log)
    found = sorted(p for p in crashes.iterdir() if p.is_file())
    for p in found:  # what the fuzzer found becomes a regression input the suite replays
        dest = ROOT / "fuzz" / "regressions" / target
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dest / p.name)
    return {
        "target": target,
        "executions": int(stat.get("number_of_executed_units", 0)),
        "exec_per_s": int(stat.get("average_exec_per_sec", 0)),
        "coverage": int(cov[-1]) if cov else 0,
        "crashes": len(found),
        "status": proc.returncode,
    }


def main() -> int:
    if sys.argv[1:] == ["--seeds"]:
        for target in TARGETS:
            seeds(target, ROOT / "fuzz" / "seeds" / target)
        return 0
    seconds = int(os.environ.get("FUZZ_SECONDS", "60"))
    env = {k: v for k, v in os.environ.items() if k != "FRAGPOOL_NO_EXTENSIONS"}
    import atheris

    asan = Path(atheris.path()) / "asan_with_fuzzer.so"
    env.update(
        LD_PRELOAD=str(asan),
        PYTHONPATH=str(BUILD / "lib"),
        FRAGPOOL_REQUIRE_EXTENSIONS="1",
        ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1",
        PYTHONMALLOC="malloc",
    )
    targets = sys.argv[1:] or list(TARGETS)
    rows = [run(t, seconds, env) for t in targets]
    print(f"fuzz: {seconds} s a target, clang ASan build of the compiled modules")
    print(f"{'target':<10} {'executions':>12} {'exec/s':>8} {'coverage':>9} {'crashes':>8}")
    for r in rows:
        print(f"{r['target']:<10} {r['executions']:>12,} {r['exec_per_s']:>8,} "
              f"{r['coverage']:>9,} {r['crashes']:>8}")  # fmt: skip
    bad = [r for r in rows if r["crashes"] or r["status"] != 0]
    for r in bad:
        log = BUILD / f"{r['target']}.log"
        print(f"fuzz: {r['target']} failed (exit {r['status']}); see {log} and "
              f"fuzz/regressions/{r['target']}")  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
