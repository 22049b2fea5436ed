"""fragpool: a userspace packet I/O buffer pool for Linux, after the kernel's allocators."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # open_offline loads the capture-file reader (and the pool) only when first used.
    if name == "open_offline":
        from .io.offline import open_offline

        return open_offline
    raise AttributeError(f"module 'fragpool' has no attribute {name!r}")
