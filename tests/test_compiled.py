"""Which fragpool runs: the compiled modules when built, the .py sources when asked or stale.

`make test` runs the suite twice: with FRAGPOOL_REQUIRE_EXTENSIONS=1 (every module meant to
be compiled must be) and with FRAGPOOL_NO_EXTENSIONS=1 (none may be).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from captures_util import CONFORMANCE

import fragpool
from fragpool import _loader

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "fragpool" / "data" / "sample.pcap"
BUILT = all(_loader.extension_file(m) is not None for m in _loader.MODULES)


def loaded_compiled(module: str) -> bool:
    mod = importlib.import_module(module)
    return isinstance(mod.__loader__, importlib.machinery.ExtensionFileLoader)


def run_python(code: str, env: dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("FRAGPOOL_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full, cwd=cwd,
        timeout=120, check=False,
    )  # fmt: skip


def test_every_module_runs_as_selected() -> None:
    if _loader.env_flag("FRAGPOOL_NO_EXTENSIONS"):
        assert fragpool.compiled is False
        assert [m for m in _loader.MODULES if loaded_compiled(m)] == []
        return
    if not _loader.env_flag("FRAGPOOL_REQUIRE_EXTENSIONS"):
        pytest.skip("neither FRAGPOOL_NO_EXTENSIONS nor FRAGPOOL_REQUIRE_EXTENSIONS is set")
    assert fragpool.compiled is True, fragpool._why
    assert [m for m in _loader.MODULES if not loaded_compiled(m)] == []
    expect = os.environ.get("FRAGPOOL_EXPECT_BUILD")  # the ASAN run: its own build
    if expect:
        root = Path(expect).resolve()
        for module in _loader.MODULES:
            assert root in Path(importlib.import_module(module).__file__).resolve().parents


def test_no_extensions_switch_imports_the_sources() -> None:
    code = (
        "import fragpool, fragpool.skb.skbuff as s, fragpool.io.files.pcap as p\n"
        "print(fragpool.compiled, s.__file__.endswith('.py'), p.__file__.endswith('.py'))"
    )
    out = run_python(code, {"FRAGPOOL_NO_EXTENSIONS": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "True"]
    assert "RuntimeWarning" not in out.stderr  # asked for: no warning


def test_version_says_which() -> None:
    for env, word in (({"FRAGPOOL_NO_EXTENSIONS": "1"}, "pure Python"), ({}, None)):
        out = run_python("from fragpool.cli import main; main(['--version'])", env)
        text = out.stdout + out.stderr
        assert text.startswith(f"fragpool {fragpool.__version__} ("), text
        if word is None:
            word = "compiled" if BUILT else "pure Python"
        assert word in text


@pytest.mark.skipif(not BUILT, reason="needs the compiled modules built in place")
def test_a_stale_build_is_never_used(tmp_path: Path) -> None:
    """An edit to a compiled module's .py after the build: pure Python, said, or refused."""
    copy = tmp_path / "fragpool"
    shutil.copytree(Path(fragpool.__file__).parent, copy, ignore=shutil.ignore_patterns("*.c"))
    code = "import fragpool, fragpool.skb.skbuff as s; print(fragpool.compiled, s.__file__)"
    fresh = run_python(code, {"PYTHONPATH": str(tmp_path)}, cwd=tmp_path)
    assert fresh.returncode == 0 and fresh.stdout.startswith("True "), fresh.stderr
    with (copy / "skb" / "skbuff.py").open("a") as f:
        f.write("\n# an edit after the build\n")
    stale = run_python(code, {"PYTHONPATH": str(tmp_path)}, cwd=tmp_path)
    assert stale.returncode == 0, stale.stderr
    assert stale.stdout.startswith("False ") and stale.stdout.strip().endswith("skbuff.py")
    assert "sources changed since the build (fragpool.skb.skbuff)" in stale.stderr
    refused = run_python(
        code, {"PYTHONPATH": str(tmp_path), "FRAGPOOL_REQUIRE_EXTENSIONS": "1"}, cwd=tmp_path
    )
    assert refused.returncode != 0
    assert "FRAGPOOL_REQUIRE_EXTENSIONS is set but the compiled modules cannot be used" in (
        refused.stderr
    )


def test_build_record_matches_the_sources() -> None:
    if not BUILT:
        pytest.skip("no compiled build here")
    record = json.loads(_loader.BUILD_INFO.read_text())
    assert set(record["sources"]) == set(_loader.MODULES)
    digest = hashlib.sha256()
    for path in _loader.source_files("fragpool._native"):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    assert record["sources"]["fragpool._native"] == digest.hexdigest()


DIGEST = """
import hashlib, sys
from fragpool.io.files import open_offline
for path in sys.argv[1:]:
    h = hashlib.sha256()
    with open_offline(path, strict=False) as cap:
        for skb in cap:
            h.update(repr((skb.tstamp, skb.wire_len, skb.linktype, skb.ifindex)).encode())
            h.update(bytes(skb))
            skb.free()
        h.update(repr(sorted(cap.stats().items())).encode())
    print(path, h.hexdigest())
"""


def test_compiled_and_pure_read_every_capture_alike() -> None:
    captures = [str(SAMPLE)] + sorted(str(p) for p in CONFORMANCE.rglob("*.pcapng"))
    assert len(captures) > 10, "the conformance captures are missing"
    script = ["-c", DIGEST, *captures]
    outs = []
    for env in ({"FRAGPOOL_NO_EXTENSIONS": "1"}, {}):
        full = {k: v for k, v in os.environ.items() if not k.startswith("FRAGPOOL_")}
        full.update(env)
        out = subprocess.run(
            [sys.executable, *script], capture_output=True, text=True, env=full, cwd=REPO,
            timeout=300, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        outs.append(out.stdout)
    assert outs[0] == outs[1]


@pytest.mark.skipif(not BUILT, reason="needs the in-place build's generated C files")
def test_a_failed_compile_installs_pure_python_and_says_why(tmp_path: Path) -> None:
    """No working compiler: pure Python with the reason at build and import, or refused."""
    shutil.copytree(
        REPO / "fragpool",
        tmp_path / "fragpool",
        ignore=shutil.ignore_patterns("*.so", "_build_info.json", "__pycache__"),
    )  # the .c files keep their times, so cythonize has nothing to redo
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tmp_path / name)
    build = [sys.executable, "setup.py", "-q", "build_ext", "--inplace"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAGPOOL_")}
    env["CC"] = "false"  # a compiler that always fails
    required = subprocess.run(
        build, cwd=tmp_path, env={**env, "FRAGPOOL_REQUIRE_EXTENSIONS": "1"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert required.returncode != 0
    fallback = subprocess.run(
        build, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert fallback.returncode == 0, fallback.stderr[-2000:]
    assert "the compiled core did not build" in fallback.stderr
    assert "error" in json.loads((tmp_path / "fragpool" / "_build_info.json").read_text())
    code = "import fragpool; print(fragpool.compiled)"
    pure = run_python(code, {"PYTHONPATH": str(tmp_path)}, cwd=tmp_path)
    assert pure.returncode == 0 and pure.stdout.strip() == "False", pure.stderr
    assert "the build could not compile them" in pure.stderr
