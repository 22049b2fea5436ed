# C types of fragpool/_native.py (augmenting declarations; the .py is the source).
import cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_Resize
from cpython.pythread cimport PyThread_get_thread_ident
from libc.string cimport memcpy, memset

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

# AF_XDP ring words shared with the kernel: the indices with acquire/release ordering
# (as libxdp's xsk.h does with __atomic builtins), the entries with plain loads and stores.
cdef extern from *:
    """
    #include <string.h>
    static inline unsigned int fp_load_acquire_u32(Py_ssize_t addr) {
        return __atomic_load_n((const unsigned int *)addr, __ATOMIC_ACQUIRE);
    }
    static inline void fp_store_release_u32(Py_ssize_t addr, unsigned int v) {
        __atomic_store_n((unsigned int *)addr, v, __ATOMIC_RELEASE);
    }
    static inline unsigned int fp_load_u32(Py_ssize_t addr) {
        return *(const unsigned int *)addr;
    }
    static inline unsigned long long fp_load_u64(Py_ssize_t addr) {
        return *(const unsigned long long *)addr;
    }
    static inline void fp_store_u64(Py_ssize_t addr, unsigned long long v) {
        *(unsigned long long *)addr = v;
    }
    static inline void fp_prefetch(Py_ssize_t addr) {
        __builtin_prefetch((const void *)addr, 0, 3);
    }
    /* Unaligned loads of received bytes: one load each (memcpy), swapped if need be. */
    static inline unsigned int fp_load32(const unsigned char *p, Py_ssize_t at, int big) {
        unsigned int v;
        memcpy(&v, p + at, 4);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        return big ? v : __builtin_bswap32(v);
    #else
        return big ? __builtin_bswap32(v) : v;
    #endif
    }
    static inline unsigned long long fp_load64(const unsigned char *p, Py_ssize_t at) {
        unsigned long long v;
        memcpy(&v, p + at, 8);
        return v;
    }
    """
    unsigned int fp_load_acquire_u32(Py_ssize_t addr) noexcept nogil
    void fp_store_release_u32(Py_ssize_t addr, unsigned int v) noexcept nogil
    unsigned int fp_load_u32(Py_ssize_t addr) noexcept nogil
    unsigned long long fp_load_u64(Py_ssize_t addr) noexcept nogil
    void fp_store_u64(Py_ssize_t addr, unsigned long long v) noexcept nogil
    void fp_prefetch(Py_ssize_t addr) noexcept nogil
    unsigned int fp_load32(const unsigned char *p, Py_ssize_t at, int big) noexcept nogil
    unsigned long long fp_load64(const unsigned char *p, Py_ssize_t at) noexcept nogil

# The socket receive loops' system calls (recv_msg, recv_mmsg): errors come back as -errno.
cdef extern from *:
    """
    #include <errno.h>
    #include <string.h>
    #include <sys/socket.h>
    static inline void fp_arm_msg(Py_ssize_t msg, unsigned int namelen, Py_ssize_t ctrllen,
                                  Py_ssize_t iov_base, Py_ssize_t iov_len) {
        struct msghdr *m = (struct msghdr *)msg;
        struct iovec *iov = (struct iovec *)(msg + 56);
        m->msg_namelen = namelen;
        m->msg_controllen = (size_t)ctrllen;
        m->msg_flags = 0;
        iov->iov_base = (void *)iov_base;
        iov->iov_len = (size_t)iov_len;
    }
    static inline Py_ssize_t fp_recvmsg(int fd, Py_ssize_t msg, int flags) {
        ssize_t n = recvmsg(fd, (struct msghdr *)msg, flags);
        return n >= 0 ? (Py_ssize_t)n : -(Py_ssize_t)errno;
    }
    static inline Py_ssize_t fp_recvmmsg(int fd, Py_ssize_t msgs, Py_ssize_t tmpl,
                                         Py_ssize_t iov_addr, Py_ssize_t first,
                                         Py_ssize_t stride, Py_ssize_t room,
                                         Py_ssize_t count, int flags) {
        struct iovec *iov = (struct iovec *)iov_addr;
        for (Py_ssize_t i = 0; room && i < count; i++) {
            iov[i].iov_base = (void *)(first + i * stride);
            iov[i].iov_len = (size_t)room;
        }
        memcpy((void *)msgs, (const void *)tmpl, sizeof(struct mmsghdr) * (size_t)count);
        int n = recvmmsg(fd, (struct mmsghdr *)msgs, (unsigned int)count, flags, NULL);
        return n >= 0 ? (Py_ssize_t)n : -(Py_ssize_t)errno;
    }
    """
    void fp_arm_msg(Py_ssize_t msg, unsigned int namelen, Py_ssize_t ctrllen,
                    Py_ssize_t iov_base, Py_ssize_t iov_len) noexcept nogil
    Py_ssize_t fp_recvmsg(int fd, Py_ssize_t msg, int flags) noexcept nogil
    Py_ssize_t fp_recvmmsg(int fd, Py_ssize_t msgs, Py_ssize_t tmpl, Py_ssize_t iov_addr,
                           Py_ssize_t first, Py_ssize_t stride, Py_ssize_t room,
                           Py_ssize_t count, int flags) noexcept nogil

cpdef Py_ssize_t recv_msg(int fd, object msg, Py_ssize_t addr, Py_ssize_t iov_base,
                         Py_ssize_t iov_len, unsigned int namelen, Py_ssize_t ctrllen,
                         int flags) except? -1
cpdef Py_ssize_t recv_mmsg(int fd, Py_ssize_t msgs_addr, Py_ssize_t template_addr, object iov,
                          Py_ssize_t iov_addr, Py_ssize_t first, Py_ssize_t stride,
                          Py_ssize_t room, Py_ssize_t count, int flags) except? -1

cdef Py_ssize_t mapped_address(object view) except? -1
cdef unsigned int ring_index(object words, Py_ssize_t at, Py_ssize_t base) noexcept
cdef void set_ring_index(object words, Py_ssize_t at, Py_ssize_t base,
                         unsigned long long value) noexcept
cdef (unsigned long long, unsigned int, unsigned int) xdp_desc(
    object view, Py_ssize_t at, Py_ssize_t base) noexcept
cdef void put_u64(object view, Py_ssize_t at, Py_ssize_t base,
                  unsigned long long value) noexcept
cdef void prefetch(Py_ssize_t addr) noexcept
cdef void zero(object mv, Py_ssize_t addr, Py_ssize_t size) noexcept


# The line buffer's text (put_dec, put_ip6): decimal digits and inet_ntop(3) in C.
cdef extern from *:
    """
    #include <arpa/inet.h>
    #include <string.h>
    #include <sys/socket.h>
    static inline Py_ssize_t fp_put_dec(unsigned char *out, Py_ssize_t pos,
                                        unsigned long long v, int width) {
        unsigned char tmp[24];
        int n = 0;
        do { tmp[n++] = (unsigned char)('0' + v % 10); v /= 10; } while (v);
        while (n < width) tmp[n++] = '0';
        for (int i = 0; i < n; i++) out[pos + i] = tmp[n - 1 - i];
        return pos + n;
    }
    static inline Py_ssize_t fp_put_ip6(unsigned char *out, Py_ssize_t pos,
                                        const unsigned char *addr) {
        char text[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, addr, text, sizeof text) == NULL) return pos;
        size_t n = strlen(text);
        memcpy(out + pos, text, n);
        return pos + (Py_ssize_t)n;
    }
    """
    Py_ssize_t fp_put_dec(unsigned char *out, Py_ssize_t pos, unsigned long long v,
                          int width) noexcept nogil
    Py_ssize_t fp_put_ip6(unsigned char *out, Py_ssize_t pos,
                          const unsigned char *addr) noexcept nogil

@cython.locals(view="unsigned char[::1]")
cdef unsigned char *writable_address(buf) except NULL
cdef unsigned char *address_bytes(Py_ssize_t addr, Py_ssize_t n) noexcept
@cython.locals(n=Py_ssize_t)
cdef Py_ssize_t put_bytes(unsigned char *out, Py_ssize_t pos, bytes data) noexcept
cdef Py_ssize_t put_dec(unsigned char *out, Py_ssize_t pos, unsigned long long value) noexcept
cdef Py_ssize_t put_dec_width(unsigned char *out, Py_ssize_t pos, unsigned long long value,
                              int width) noexcept
@cython.locals(i=int)
cdef Py_ssize_t put_ip4(unsigned char *out, Py_ssize_t pos, const unsigned char *p,
                        Py_ssize_t at) noexcept
cdef Py_ssize_t put_ip6(unsigned char *out, Py_ssize_t pos, const unsigned char *p,
                        Py_ssize_t at) noexcept

# Appending to a writer's pending bytes (pcap_records): a resize and a copy, no object.
cdef extern from *:
    """
    static inline void fp_store_u32x4(char *at, unsigned int a, unsigned int b,
                                      unsigned int c, unsigned int d, int big) {
        unsigned int v[4] = {a, b, c, d};
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        int swap = !big;
    #else
        int swap = big;
    #endif
        if (swap)
            for (int i = 0; i < 4; i++) v[i] = __builtin_bswap32(v[i]);
        memcpy(at, v, 16);
    }
    """
    void fp_store_u32x4(char *at, unsigned int a, unsigned int b, unsigned int c,
                        unsigned int d, int big) noexcept nogil

@cython.locals(old=Py_ssize_t)
cdef int append_from(bytearray out, Py_ssize_t addr, Py_ssize_t n) except -1
@cython.locals(old=Py_ssize_t)
cdef int append_u32x4(bytearray out, unsigned int a, unsigned int b, unsigned int c,
                      unsigned int d, bint big) except -1
