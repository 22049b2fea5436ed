# C types of fragpool/mm/allocator.py (augmenting declarations; the .py is the source).
# Refcount read-modify-writes below are plain C on typed fields: nothing between the read
# and the write can release the GIL.
import cython


cdef class RefCount:
    cdef public Py_ssize_t ref


cdef class Page(RefCount):
    cdef public Py_ssize_t addr
    cdef public int order
    cdef public Py_ssize_t size
    cdef public bint pfmemalloc
    cdef public Arena arena
    cdef public object owner


cdef class Arena:
    cdef public object map
    cdef public Py_ssize_t raw_addr
    cdef public Py_ssize_t base
    cdef public Py_ssize_t size
    cdef public object view
    cdef public unsigned char[::1] bytes_view
    cdef public object _anchor
    cdef public bint reserve


@cython.final
cdef class PageAllocator:
    cdef public Py_ssize_t page_size
    cdef public int page_shift
    cdef public int max_order
    cdef public Py_ssize_t max_block
    cdef public Py_ssize_t budget
    cdef public Py_ssize_t arena_size
    cdef public Py_ssize_t reserve_pages
    cdef public dict mem_map
    cdef public dict _memmap
    cdef public Page _last_page
    cdef public list _free
    cdef public list _reserve_free
    cdef public object _reserve_arena
    cdef public list arenas
    cdef public dict _live
    cdef public Py_ssize_t _mapped_usable
    cdef public Py_ssize_t nr_mmap
    cdef public Py_ssize_t bytes_mapped
    cdef public list pages_alloc
    cdef public list pages_freed
    cdef public list alloc_fail
    cdef public Py_ssize_t reserve_alloc
    cdef public Py_ssize_t reserve_fail
    cdef public Py_ssize_t refcount_ops
    cdef public Py_ssize_t refcount_sets
    cdef public Py_ssize_t frag_frees
    cdef public Py_ssize_t skbs_reclaimed
    cdef public object netdev_cache
    cdef public object _lock
    cdef public object debug

    @cython.locals(page=Page)
    cpdef Page head_page(self, Py_ssize_t addr)
    @cython.locals(page=Page)
    cpdef Page page_of(self, Py_ssize_t addr)
    @cython.locals(n=Py_ssize_t)
    cpdef get_page(self, Page page)
    @cython.locals(n=Py_ssize_t)
    cpdef page_ref_add(self, Page page, Py_ssize_t count)
    cpdef set_page_count(self, Page page, Py_ssize_t count)
    @cython.locals(n=Py_ssize_t)
    cpdef bint page_ref_sub_and_test(self, Page page, Py_ssize_t count) except -1
    @cython.locals(n=Py_ssize_t)
    cpdef put_page(self, Page page)
    @cython.locals(page=Page, n=Py_ssize_t)
    cpdef frag_free(self, Py_ssize_t addr)
    @cython.locals(page=Page, arena=Arena, start=Py_ssize_t)
    cpdef view(self, Py_ssize_t addr, Py_ssize_t length)
    cpdef _ref_zero(self, Page page, Py_ssize_t n, Py_ssize_t addr)
    cpdef _release(self, Page page)
    cpdef Page _alloc_block(self, int order, bint memalloc, bint last_try)
