# C types of fragpool/driver/rss.py (augmenting declarations; the .py is the source).
import cython


cdef class Toeplitz:
    cdef public bytes key
    cdef public Py_ssize_t _kbits
    cdef public object _k
    cdef public Py_ssize_t max_input
    cdef const unsigned int[:] _view

    @cython.locals(h="unsigned int", i=Py_ssize_t, base=Py_ssize_t,
                   table="const unsigned int[:]")
    cpdef unsigned int hash_at(self, const unsigned char[:] data, Py_ssize_t start,
                               Py_ssize_t n, Py_ssize_t pos) except? 0


cdef class Rss:
    cdef public Toeplitz hash
    cdef public list reta

    @cython.locals(at=Py_ssize_t, length=Py_ssize_t, ports=Py_ssize_t, h="unsigned int",
                   view="const unsigned char[:]")
    cpdef tuple steer(self, frame)


@cython.locals(n=Py_ssize_t, proto=int, off=Py_ssize_t)
cpdef (int, Py_ssize_t) _l3(const unsigned char[:] frame)

@cython.locals(proto=int, off=Py_ssize_t, n=Py_ssize_t, ihl=Py_ssize_t, fragment=int,
               l4=Py_ssize_t)
cpdef (Py_ssize_t, Py_ssize_t, Py_ssize_t) flow_span(const unsigned char[:] frame)
