# C types of fragpool/io/live/pool_cursor.py (augmenting declarations; the .py is the
# source). The receive loops read and commit the cursor's fields per packet: C fields.
import cython

from fragpool.mm.allocator cimport PageAllocator


cdef class PoolCursor:
    cdef public PageAllocator pa
    cdef public Py_ssize_t order
    cdef public object page
    cdef public object mv
    cdef public Py_ssize_t mbase
    cdef public Py_ssize_t start
    cdef public Py_ssize_t size
    cdef public Py_ssize_t off
    cdef public Py_ssize_t bias
    cdef public bint pfmemalloc
    cdef public Py_ssize_t pages_taken
    cdef public Py_ssize_t pages_reused
    cdef public Py_ssize_t pages_forgotten
    cdef public Py_ssize_t alloc_fail

    @cython.locals(pa=PageAllocator)
    cpdef bint refill(self, Py_ssize_t need) except -1

    @cython.locals(pa=PageAllocator, order=Py_ssize_t)
    cpdef bint _take(self, Py_ssize_t need) except -1
