"""Which fragpool runs: the compiled modules, or the same sources as plain Python.

Decided once, when ``fragpool`` is first imported, before any other fragpool module loads:

- ``FRAGPOOL_NO_EXTENSIONS=1`` imports the ``.py`` sources even where compiled modules sit
  beside them (a finder placed first on ``sys.meta_path`` loads fragpool's modules from
  source).
- Otherwise the compiled modules are used when every one of them is present and was built
  from the sources now on disk: the build records a hash of each module's ``.py`` and
  ``.pxd`` in ``_build_info.json``. A missing, partial or stale build (a ``.py`` edited
  after compiling) runs pure Python with a warning saying why, since compiled modules
  cimport each other's types and cannot be mixed with pure ones.
- ``FRAGPOOL_REQUIRE_EXTENSIONS=1`` turns that fallback into an ImportError (CI sets it:
  never run the slow variant without knowing).
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys
import warnings
from pathlib import Path

#: The modules Cython compiles: what runs once per packet or fragment (DESIGN.md). setup.py
#: builds exactly these (loading this file by path); each is a plain .py that runs unchanged
#: as Python, its C types in the augmenting .pxd beside it when it has one.
MODULES = (
    "fragpool._native",
    "fragpool.mm.allocator",
    "fragpool.mm.frag_cache",
    "fragpool.mm.percpu",
    "fragpool.mm.page_pool",
    "fragpool.skb.head_owner",
    "fragpool.skb.heap",
    "fragpool.skb.skbuff",
    "fragpool.skb.head_cache",
    "fragpool.skb.alloc",
    "fragpool.io.backlog",
    "fragpool.io.bpf.program",
    "fragpool.io.bpf.interp",
    "fragpool.io.files.pcap",
    "fragpool.io.files.pcapng",
    "fragpool.io.files.pcap_records",
    "fragpool.io.files.reader",
    "fragpool.io.live.pool_cursor",
    "fragpool.io.live.ring_receive",
    "fragpool.io.live.socket_receive",
    "fragpool.io.live.xdp_receive",
    "fragpool.driver.buffers",
    "fragpool.driver.ring",
    "fragpool.driver.rss",
    "fragpool.driver.device",
    "fragpool.driver.wire",
    "fragpool.driver.xdp_wire",
    "fragpool.commands._tcpdump",
    "fragpool.commands._fast_lines",
)

ROOT = Path(__file__).resolve().parent
BUILD_INFO = ROOT / "_build_info.json"


def env_flag(name: str) -> bool:
    """An environment switch: set to anything but '', '0', 'false' or 'no'."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def source_files(module: str) -> list[Path]:
    """The files a compiled module is built from: its .py and, if any, its .pxd."""
    stem = ROOT.parent.joinpath(*module.split("."))
    return [p for p in (stem.with_suffix(".py"), stem.with_suffix(".pxd")) if p.exists()]


def source_hash(module: str) -> str:
    import hashlib  # only when the sources' stats differ from the build's (start-up time)

    digest = hashlib.sha256()
    for path in source_files(module):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def source_stats(module: str) -> list[list[int]]:
    """Size and mtime (ns) of a module's sources: when they are what the build saw, the
    sources are the ones compiled, without reading them."""
    return [[st.st_size, st.st_mtime_ns] for st in map(os.stat, source_files(module))]


def extension_file(module: str) -> Path | None:
    stem = ROOT.parent.joinpath(*module.split("."))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = stem.with_name(stem.name + suffix)
        if path.exists():
            return path
    return None


def build_info() -> dict:
    """What the last build recorded ({} when there is no record)."""
    try:
        info = json.loads(BUILD_INFO.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def why_not_compiled() -> str | None:
    """None when every compiled module is present and current, else the reason not."""
    missing = [m for m in MODULES if extension_file(m) is None]
    info = build_info() or None
    if len(missing) == len(MODULES):
        if info and info.get("error"):
            return f"the build could not compile them ({info['error']})"
        if info and info.get("skipped"):
            return f"the build skipped them ({info['skipped']})"
        return "no compiled modules are installed"
    if missing:
        return f"{len(missing)} of {len(MODULES)} are missing ({', '.join(missing[:3])}...)"
    if info is None:
        return f"{BUILD_INFO.name} is missing, so the build cannot be checked against the sources"
    hashes, stats = info.get("sources", {}), info.get("stats", {})
    stale = [
        m for m in MODULES if stats.get(m) != source_stats(m) and hashes.get(m) != source_hash(m)
    ]
    if stale:
        return (
            f"their sources changed since the build ({', '.join(stale[:3])}"
            f"{'...' if len(stale) > 3 else ''}): rebuild with `make` or `pip install -e .`"
        )
    return None


class SourceOnlyFinder:  # a sys.meta_path finder (importlib.abc's, without importing it)
    """Finds fragpool's modules as .py sources only, ignoring compiled ones beside them."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if not fullname.startswith("fragpool.") or path is None:
            return None
        loaders = [(importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES)]
        for entry in path:
            spec = importlib.machinery.FileFinder(entry, *loaders).find_spec(fullname, target)
            if spec is not None:
                return spec
        return None


def choose() -> tuple[bool, str]:
    """(compiled?, why) and, for pure Python, the finder that makes it so."""
    if env_flag("FRAGPOOL_NO_EXTENSIONS"):
        reason = "FRAGPOOL_NO_EXTENSIONS is set"
    else:
        reason = why_not_compiled()
        if reason is None:
            return True, "compiled"
        if env_flag("FRAGPOOL_REQUIRE_EXTENSIONS"):
            raise ImportError(
                f"fragpool: FRAGPOOL_REQUIRE_EXTENSIONS is set but the compiled modules "
                f"cannot be used: {reason}"
            )
        if not build_info().get("skipped"):
            warnings.warn(
                f"fragpool runs as pure Python, several times slower: {reason}",
                RuntimeWarning,
                stacklevel=3,
            )
    if not any(isinstance(f, SourceOnlyFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, SourceOnlyFinder())
    return False, reason
