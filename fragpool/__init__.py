"""fragpool: a userspace packet I/O buffer pool for Linux, after the kernel's allocators."""

__version__ = "0.1.0"
