# C types of fragpool/io/bpf/program.py (augmenting declarations; the .py is the source).

cdef class Program:
    cdef public tuple insns
    cdef public object source
    cdef public Py_ssize_t linktype
    cdef public Py_ssize_t snaplen
    cdef public Py_ssize_t n
    # what the interpreter reads: one entry per instruction
    cdef const unsigned short[::1] code
    cdef const unsigned char[::1] jt
    cdef const unsigned char[::1] jf
    cdef const unsigned int[::1] k
