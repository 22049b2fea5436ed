"""Build fragpool's compiled core: Cython compiles the modules listed in fragpool/_loader.py.

``FRAGPOOL_NO_EXTENSIONS=1`` skips compiling (a pure-Python install). A build that cannot
compile warns loudly and installs pure Python, unless ``FRAGPOOL_REQUIRE_EXTENSIONS=1``
makes that an error. ``FRAGPOOL_CFLAGS`` adds compiler flags (``make test-asan`` passes
``-fsanitize=address``). Every build records a hash of each module's sources in
fragpool/_build_info.json, so a stale build is never used (see fragpool/_loader.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_fragpool_loader", HERE / "fragpool" / "_loader.py")
loader = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(loader)

NO_EXTENSIONS = loader.env_flag("FRAGPOOL_NO_EXTENSIONS")
REQUIRE = loader.env_flag("FRAGPOOL_REQUIRE_EXTENSIONS")

DIRECTIVES = {
    "language_level": 3,
    # Types come from the .pxd files only; the .py annotations stay plain Python hints.
    "annotation_typing": False,
    "embedsignature": True,
    # Methods as plain C method descriptors: a cheaper call from Python than a cyfunction.
    "binding": False,
}


def warn(message: str) -> None:
    bar = "*" * 78
    print(f"\n{bar}\nWARNING: {message}\n{bar}\n", file=sys.stderr)


def extensions() -> list[Extension]:
    """The modules to compile, as .py sources: BuildExt cythonizes them."""
    if NO_EXTENSIONS:
        return []
    cflags = os.environ.get("FRAGPOOL_CFLAGS", "").split()
    exts = [
        Extension(
            name,
            [str(Path(*name.split(".")).with_suffix(".py"))],
            extra_compile_args=cflags,
            extra_link_args=[f for f in cflags if f.startswith("-fsanitize")],
        )
        for name in loader.MODULES
    ]
    return exts


class BuildExt(build_ext):
    """build_ext that falls back to pure Python (or fails, when required) and records why.

    It compiles on every CPU unless told otherwise (``-j``): pip and ``python -m build``
    never pass one, and two dozen modules one at a time take minutes.
    """

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        # setuptools' run() clears self.inplace while it builds and restores it only when it
        # returns, so a failed build must not ask it afterwards where the record goes.
        inplace = bool(self.inplace)
        record: dict = {
            "sources": {m: loader.source_hash(m) for m in loader.MODULES},
            "stats": {m: loader.source_stats(m) for m in loader.MODULES},
        }
        if NO_EXTENSIONS:
            record = {"skipped": "FRAGPOOL_NO_EXTENSIONS was set at build time"}
        else:
            try:
                from Cython.Build import cythonize

                for ext in self.extensions:  # .py -> .c, keeping setuptools' own Extension
                    (done,) = cythonize([ext], compiler_directives=DIRECTIVES, quiet=True)
                    ext.sources = done.sources
                super().run()
            except Exception as err:  # no Cython, a Cython or C compile error, ...
                if REQUIRE:
                    raise
                warn(f"the compiled core did not build ({err}): fragpool runs as pure Python")
                record = {"error": " ".join(str(err).split())[:300]}
        self._write_record(record, inplace)

    def _write_record(self, record: dict, inplace: bool) -> None:
        text = json.dumps(record, indent=1, sort_keys=True) + "\n"
        targets = {HERE / "fragpool"} if inplace else set()
        targets.add(Path(self.build_lib) / "fragpool")
        if self.editable_mode:
            targets.add(HERE / "fragpool")
        for folder in targets:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / loader.BUILD_INFO.name).write_text(text)

    def get_outputs(self) -> list[str]:
        return [*super().get_outputs(), str(Path(self.build_lib) / "fragpool" / "_build_info.json")]


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
