# C types of fragpool/mm/percpu.py (augmenting declarations; the .py is the source).
import cython

from fragpool cimport _native
from fragpool.mm.allocator cimport PageAllocator
from fragpool.mm.frag_cache cimport PageFragCache


cdef class NetdevFragCache:
    cdef public PageFragCache cache
    cdef public object _lock


cdef class NapiContext:
    cdef public PageAllocator pa
    cdef public PageFragCache frag_cache
    cdef public object name
    cdef public unsigned long _owner
    cdef public int _depth
    cdef public object _outer
    cdef public dict extensions

    cpdef check(self)
    cpdef alloc_frag(self, Py_ssize_t fragsz, object align=*)
