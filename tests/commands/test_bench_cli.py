"""`fragpool bench` runs the checkout's benchmarks and passes their verdicts on."""

import subprocess
import sys

from fragpool.commands.bench import BENCHES, bench_dir

CMD = [sys.executable, "-m", "fragpool.cli", "bench"]


def test_finds_every_benchmark_of_the_checkout() -> None:
    folder = bench_dir()
    assert folder is not None
    assert sorted(p.name for p in folder.glob("bench_*.py")) == sorted(
        f"bench_{name}.py" for name in BENCHES
    )


def test_runs_a_benchmark_with_arguments_after_the_separator() -> None:
    args = ["skb", "--", "--repeats", "1", "--ops", "2000", "--heap-packets", "20000"]
    proc = subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=120)
    assert "== bench_skb" in proc.stdout
    assert " of 3 targets met" in proc.stdout  # build_skb, napi_alloc_skb, heap growth
    assert proc.returncode in (0, 1)  # 1 only if a timing target failed on a busy machine
    assert ("FAIL" in proc.stdout) == (proc.returncode == 1)


def test_unknown_benchmark_is_refused() -> None:
    proc = subprocess.run([*CMD, "nope"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unknown benchmark 'nope'" in proc.stderr
