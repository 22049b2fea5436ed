# C types of fragpool/mm/frag_cache.py (augmenting declarations; the .py is the source).
import cython

from fragpool.mm.allocator cimport Page, PageAllocator


cdef class PageFragCache:
    cdef public PageAllocator pa
    cdef public bint memalloc
    cdef public Page page
    cdef public Py_ssize_t _va
    cdef public Py_ssize_t _size
    cdef public Py_ssize_t _offset
    cdef public Py_ssize_t _bias
    cdef public bint pfmemalloc
    cdef public Py_ssize_t nr_refill
    cdef public Py_ssize_t nr_fallback
    cdef public Py_ssize_t nr_reuse
    cdef public Py_ssize_t nr_forget
    cdef public Py_ssize_t nr_pfmemalloc_release
    cdef public Py_ssize_t nr_fail
    cdef public Py_ssize_t nr_oversize
    cdef public Py_ssize_t _frags_done
    cdef public Py_ssize_t _carved_done
    cdef public Py_ssize_t _align_waste
    cdef public Py_ssize_t refcount_ops
    cdef public Py_ssize_t refcount_sets
    cdef public frozenset _aligns
    cdef public int _refill_order
    cdef public Py_ssize_t _max_size
    cdef public Py_ssize_t _full_bias
    cdef public object _dbg
    cdef public Py_ssize_t _real_size

    @cython.locals(offset=Py_ssize_t, aligned=Py_ssize_t, end=Py_ssize_t, a=Py_ssize_t)
    cpdef alloc(self, Py_ssize_t fragsz, object align=*)
    @cython.locals(page=Page)
    cpdef _alloc_slow(self, Py_ssize_t fragsz, object align=*)
    cpdef bint _release_bias(self, Page page) except -1
    cpdef _reuse(self, Page page)
    cpdef bint _refill(self) except -1
    cpdef _take(self, Page page)
    cpdef _retire_counts(self)
    cpdef Py_ssize_t _frags_on_page(self)


cdef class NaivePageFragCache(PageFragCache):
    cdef public Py_ssize_t _nr_frags
