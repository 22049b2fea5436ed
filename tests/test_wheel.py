"""The sdist holds what the tests need, and the wheel built from it works outside the checkout:
installed in a fresh venv, `fragpool driver` finds its bundled sample, `fragpool capture -r`
reads a file, and mypy --strict accepts a user's script and the README's examples against
the installed package."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def sh(*cmd: str | Path, cwd: Path, env: dict | None = None) -> str:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd,
                          timeout=900, env=env)  # fmt: skip
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_sdist_and_wheel_install_and_run_outside_the_checkout(tmp_path):
    # The compiled run builds and checks the compiled wheel; the pure run a pure one
    # (FRAGPOOL_NO_EXTENSIONS=1 at build time), which is quick.
    pure = os.environ.get("FRAGPOOL_NO_EXTENSIONS") == "1"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAGPOOL_")}
    env["FRAGPOOL_NO_EXTENSIONS" if pure else "FRAGPOOL_REQUIRE_EXTENSIONS"] = "1"
    dist = tmp_path / "dist"
    sh(sys.executable, "setup.py", "-q", "sdist", "-d", dist, cwd=REPO, env=env)
    (sdist,) = dist.glob("fragpool-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "README.md", "fragpool/py.typed", "fragpool/data/sample.pcap",
                   "fragpool/skb/skbuff.pxd", "tests/conftest.py", "tests/netns.py",
                   "tests/captures_util.py", "tests/filter_corpus.py"):  # fmt: skip
        assert needed in names, needed
    # no build products: no shared objects, no C that Cython generated (the benchmarks'
    # own C programs are sources, and ship)
    assert not any(n.endswith(".so") for n in names)
    assert not any(n.startswith("fragpool/") and n.endswith(".c") for n in names)
    assert "benchmarks/live_anchor.c" in names
    sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
       dist, sdist, cwd=tmp_path, env=env)  # fmt: skip
    (wheel,) = dist.glob("fragpool-*.whl")
    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    sh(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=tmp_path, env=env)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    fragpool = venv / "bin" / "fragpool"
    version = sh(fragpool, "--version", cwd=outside, env=env)
    assert ("(pure Python" if pure else "(compiled)") in version
    out = sh(fragpool, "driver", cwd=outside, env=env)
    assert "teardown: 0 pages in flight" in out
    where = "import importlib.resources as r; print(r.files('fragpool') / 'data' / 'sample.pcap')"
    sample = sh(venv / "bin" / "python", "-c", where, cwd=outside, env=env).strip()
    assert str(REPO) not in sample and "site-packages" in sample
    lines = sh(fragpool, "capture", "-r", sample, "-c", "3", "udp", cwd=outside, env=env)
    assert lines.count(": UDP, length") == 3
    # a type checker sees the installed package's real signatures (py.typed ships)
    scripts = [outside / "user.py"]
    scripts[0].write_text(USER_SCRIPT)
    for i, block in enumerate(README_BLOCKS):  # each README example as a script of its own
        scripts.append(outside / f"readme_{i}.py")
        scripts[-1].write_text("import sys\n\nimport fragpool\n\n" + block)
    mypy = Path(sys.executable).with_name("mypy")
    assert mypy.exists(), "mypy comes with the test extra (make test installs it)"
    sh(mypy, "--strict", "--no-incremental", "--python-executable", venv / "bin" / "python",
       *scripts, cwd=outside, env=env)  # fmt: skip


#: A user's script (the README's examples follow it): what mypy --strict must accept.
USER_SCRIPT = """
from __future__ import annotations

import fragpool
from fragpool.skb import SkBuff


def count_udp(path: str) -> int:
    n = 0
    with fragpool.open_offline(path, filter="udp") as cap:
        for skb in cap:
            first: int = skb[0]
            head: bytes = skb[0:14]
            assert first == head[0] and skb.time > 0
            n += 1
            skb.free()
        print(cap.stats()["filter_dropped"])
    return n


def save(path: str, skb: SkBuff) -> None:
    with fragpool.open_dump(path, linktype=1) as out:
        out.write(skb)
        out.write(bytes(60), tstamp=0)


print(fragpool.compiled, fragpool.__version__)
"""
README_BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
