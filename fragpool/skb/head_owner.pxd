# C types of fragpool/skb/head_owner.py (augmenting declarations; the .py is the source).

cdef class HeadOwner:
    cdef public Py_ssize_t frag_frees

    cpdef frag_free(self, Py_ssize_t addr)
