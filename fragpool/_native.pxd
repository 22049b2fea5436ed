# C types of fragpool/_native.py (augmenting declarations; the .py is the source).
import cython
from cpython.pythread cimport PyThread_get_thread_ident

@cython.locals(view="const unsigned char[::1]")
cdef const unsigned char *buffer_address(buf) except NULL

cdef (unsigned int, unsigned int, unsigned int, unsigned int) u32x4(
    const unsigned char *p, Py_ssize_t at, bint big) noexcept

cdef unsigned int u32(const unsigned char *p, Py_ssize_t at, bint big) noexcept

@cython.locals(v="unsigned int")
cdef unsigned int u16(const unsigned char *p, Py_ssize_t at, bint big) noexcept

@cython.locals(v="unsigned int")
cdef unsigned int load32(const unsigned char *p, Py_ssize_t at, bint big) noexcept

cdef unsigned long thread_ident() noexcept

cdef unsigned char byte_at(object mv, Py_ssize_t mbase, Py_ssize_t addr) noexcept

cdef bint _BIG

cdef (unsigned int, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int,
      unsigned int, unsigned int, unsigned char) tpacket3_hdr(
    const unsigned char *p, Py_ssize_t at) noexcept

ctypedef unsigned long long u64

cdef (u64, unsigned int, u64, u64, u64, u64, unsigned int, unsigned int, unsigned int,
      unsigned int) mmsg_usual(const unsigned char *pm, Py_ssize_t moff,
                               const unsigned char *pc, Py_ssize_t coff) noexcept

@cython.locals(lo="unsigned long long", hi="unsigned long long")
cdef unsigned long long load64(const unsigned char *p, Py_ssize_t at) noexcept
