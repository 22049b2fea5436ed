"""fragpool: a userspace packet I/O buffer pool for Linux, after the kernel's allocators.

The same sources run compiled (Cython) or as plain Python: ``fragpool.compiled`` says which,
and ``FRAGPOOL_NO_EXTENSIONS=1`` picks plain Python (see fragpool._loader).
"""

from ._loader import choose as _choose

__version__ = "0.1.0"

#: True when the compiled modules are in use, False when the .py sources run interpreted.
compiled, _why = _choose()


def __getattr__(name: str) -> object:
    # open_offline / open_live load their I/O layer (and the pool) only when first used.
    if name == "open_offline":
        from .io.files import open_offline

        return open_offline
    if name == "open_live":
        from .io.live import open_live

        return open_live
    raise AttributeError(f"module 'fragpool' has no attribute {name!r}")
