# C types of fragpool/skb/heap.py (augmenting declarations; the .py is the source).
import cython

from fragpool cimport _native
from fragpool.skb.head_owner cimport HeadOwner

cdef Py_ssize_t SPARE_PER_SIZE


cdef class HeapHeads(HeadOwner):
    cdef dict _bufs
    cdef dict _spare
    cdef public Py_ssize_t nr_alloc
    cdef public Py_ssize_t nr_free
    cdef public Py_ssize_t bytes_alloc

    @cython.locals(spare=list, addr=Py_ssize_t)
    cpdef tuple alloc(self, Py_ssize_t size)
    @cython.locals(spare=list, size=Py_ssize_t)
    cpdef frag_free(self, Py_ssize_t addr)
    cpdef Py_ssize_t in_use(self)
