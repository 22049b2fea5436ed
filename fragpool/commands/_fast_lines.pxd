# C types of fragpool/commands/_fast_lines.py (augmenting declarations; the .py is the
# source). The line is written through a C pointer into the buffer, the packet read through
# one from the skb's linear data.
import cython

from fragpool cimport _native
from fragpool.skb.skbuff cimport SkBuff


cdef class LineWriter:
    cdef public object sink
    cdef public object clock
    cdef public object dissector
    cdef public bytearray buf
    cdef unsigned char *out
    cdef public Py_ssize_t pos
    cdef public bint fast_clock
    cdef public int width
    cdef public long long unit
    cdef public long long sec
    cdef public bytes sec_text
    cdef public bint quiet
    cdef public bint absolute

    cpdef flush(self)

    @cython.locals(data=bytes)
    cpdef Py_ssize_t text(self, Py_ssize_t pos, str line) except -2

    @cython.locals(out="unsigned char *", p="unsigned char *", pos=Py_ssize_t,
                   end=Py_ssize_t, n=Py_ssize_t, ns="long long", sec="long long",
                   linktype=Py_ssize_t)
    cpdef write(self, SkBuff skb)

    @cython.locals(off=Py_ssize_t, etype="unsigned int")
    cdef Py_ssize_t _ether(self, unsigned char *out, Py_ssize_t pos, const unsigned char *p,
                           Py_ssize_t n, Py_ssize_t wire) except -2

    @cython.locals(version=int)
    cdef Py_ssize_t _ip(self, unsigned char *out, Py_ssize_t pos, const unsigned char *p,
                        Py_ssize_t off, Py_ssize_t n, Py_ssize_t wire) except -2

    @cython.locals(ihl=Py_ssize_t, total=Py_ssize_t, proto=int, at=Py_ssize_t,
                   stop=Py_ssize_t, avail=Py_ssize_t, paylen=Py_ssize_t)
    cdef Py_ssize_t _ipv4(self, unsigned char *out, Py_ssize_t pos, const unsigned char *p,
                          Py_ssize_t off, Py_ssize_t n, Py_ssize_t length) except -2

    @cython.locals(plen=Py_ssize_t, nxt=int, at=Py_ssize_t, stop=Py_ssize_t,
                   avail=Py_ssize_t)
    cdef Py_ssize_t _ipv6(self, unsigned char *out, Py_ssize_t pos, const unsigned char *p,
                          Py_ssize_t off, Py_ssize_t n, Py_ssize_t length) except -2

    cdef Py_ssize_t _dst(self, unsigned char *out, Py_ssize_t pos, const unsigned char *p,
                         Py_ssize_t dst, bint v4) noexcept

    @cython.locals(ulen=Py_ssize_t)
    cdef Py_ssize_t _udp(self, unsigned char *out, Py_ssize_t pos, const unsigned char *p,
                         Py_ssize_t at, Py_ssize_t dst, bint v4) noexcept

    @cython.locals(sport=Py_ssize_t, dport=Py_ssize_t, hlen=Py_ssize_t, flags=int,
                   length=Py_ssize_t, seq="long long", ack="long long", win=Py_ssize_t,
                   base="long long", i=int, stop=Py_ssize_t, a=bytes, b=bytes, opts=str)
    cdef Py_ssize_t _tcp(self, unsigned char *out, Py_ssize_t pos, const unsigned char *p,
                         Py_ssize_t at, Py_ssize_t avail, Py_ssize_t paylen, Py_ssize_t src,
                         Py_ssize_t alen, bint v4) except -2

    cdef Py_ssize_t _signed(self, unsigned char *out, Py_ssize_t pos,
                            long long value) noexcept

    @cython.locals(itype=int)
    cdef Py_ssize_t _icmp_echo(self, unsigned char *out, Py_ssize_t pos,
                               const unsigned char *p, Py_ssize_t off, Py_ssize_t at,
                               Py_ssize_t avail, Py_ssize_t paylen) noexcept
