"""fragpool: a userspace packet I/O buffer pool for Linux, after the kernel's allocators."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # open_offline / open_live load their I/O layer (and the pool) only when first used.
    if name == "open_offline":
        from .io.files import open_offline

        return open_offline
    if name == "open_live":
        from .io.live import open_live

        return open_live
    raise AttributeError(f"module 'fragpool' has no attribute {name!r}")
