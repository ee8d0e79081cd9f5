# cython: language_level=3
"""Thin binding to libseccomp (2.5.x) and to the seccomp(2) calls pyrunc needs.

Policy lives in the pyrunc/seccomp/ package; this module only turns plain numbers into a BPF program,
resolves names, and asks the kernel what it supports. `load` is for tests: the container's
init loads the program itself with seccomp(2), without libseccomp.
"""

from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.errno cimport errno


cdef extern from "<seccomp.h>" nogil:
    ctypedef void *scmp_filter_ctx

    cdef enum scmp_filter_attr:
        SCMP_FLTATR_ACT_BADARCH
        SCMP_FLTATR_CTL_NNP
        SCMP_FLTATR_CTL_OPTIMIZE

    cdef enum scmp_compare:
        SCMP_CMP_NE

    struct scmp_arg_cmp:
        unsigned int arg
        scmp_compare op
        uint64_t datum_a
        uint64_t datum_b

    struct scmp_version:
        unsigned int major
        unsigned int minor
        unsigned int micro

    const scmp_version *seccomp_version()
    unsigned int seccomp_api_get()
    scmp_filter_ctx seccomp_init(uint32_t def_action)
    void seccomp_release(scmp_filter_ctx ctx)
    uint32_t seccomp_arch_resolve_name(const char *arch_name)
    uint32_t seccomp_arch_native()
    int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token)
    int seccomp_attr_set(scmp_filter_ctx ctx, scmp_filter_attr attr, uint32_t value)
    int seccomp_syscall_resolve_name(const char *name)
    int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name)
    int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                               unsigned int arg_cnt, const scmp_arg_cmp *arg_array)
    int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd)
    int __NR_SCMP_ERROR


cdef extern from "<sys/mman.h>" nogil:
    int memfd_create(const char *name, unsigned int flags)
    int MFD_CLOEXEC


cdef extern from "<unistd.h>" nogil:
    long syscall(long number, ...)
    ssize_t pread(int fd, void *buf, size_t count, long offset)
    int close(int fd)


from posix.stat cimport struct_stat, fstat


cdef extern from "<sys/syscall.h>" nogil:
    long SYS_seccomp


cdef extern from "<linux/filter.h>" nogil:
    struct sock_filter:
        unsigned short code
        unsigned char jt
        unsigned char jf
        unsigned int k

    struct sock_fprog:
        unsigned short len
        sock_filter *filter


cdef extern from "<linux/seccomp.h>" nogil:
    int SECCOMP_SET_MODE_FILTER
    int SECCOMP_GET_ACTION_AVAIL


NR_SCMP_ERROR = __NR_SCMP_ERROR
BPF_INSN_SIZE = sizeof(sock_filter)


class DefaultActionError(Exception):
    """seccomp_init refused the default action."""


class ArchError(Exception):
    """libseccomp refused architecture number `index` (of the list given to build) with `errno`;
    EDOM: its byte order differs from the native arch's, and one filter has one byte order."""

    def __init__(self, index, err):
        self.index = index
        self.errno = err
        super().__init__(f"architecture {index}: errno {err}")


class RuleError(Exception):
    """libseccomp refused rule number `index` (of the list given to build) with `errno`."""

    def __init__(self, index, err):
        self.index = index
        self.errno = err
        super().__init__(f"rule {index}: errno {err}")


def version():
    """(major, minor, micro) of the libseccomp in use."""
    cdef const scmp_version *v = seccomp_version()
    return (v.major, v.minor, v.micro)


def api_level():
    return seccomp_api_get()


def native_arch():
    """The SCMP_ARCH_* token (an AUDIT_ARCH_* value) of this machine."""
    return seccomp_arch_native()


def arch_token(str name):
    """libseccomp's token for an arch name such as 'x86_64' or 'aarch64'; 0 if unknown."""
    return seccomp_arch_resolve_name(name.encode())


def resolve_syscall(str name):
    """Syscall number of `name` for the native arch: >= 0 a real number, < -1 a libseccomp
    pseudo-number (the call exists on another arch only), NR_SCMP_ERROR if libseccomp does not
    know the name at all."""
    return seccomp_syscall_resolve_name(name.encode())


def highest_syscall(uint32_t arch, names):
    """The largest syscall number among `names` on `arch` (with the x32 bit for x32), or -1."""
    cdef int best = -1
    cdef int nr
    for name in names:
        nr = seccomp_syscall_resolve_name_arch(arch, (<str>name).encode())
        if nr > best:
            best = nr
    return best


cdef int _add_rule(scmp_filter_ctx ctx, uint32_t action, int nr, tuple conds) except -1:
    cdef unsigned int count = len(conds)
    cdef scmp_arg_cmp cmps[6]
    cdef unsigned int i
    if count > 6:
        return -22
    for i in range(count):
        arg, op, datum_a, datum_b = conds[i]
        cmps[i].arg = arg
        cmps[i].op = <scmp_compare><int>op
        cmps[i].datum_a = datum_a
        cmps[i].datum_b = datum_b
    return seccomp_rule_add_array(ctx, action, nr, count, cmps)


cdef bytes _export(scmp_filter_ctx ctx):
    """seccomp_export_bpf into a memfd (libseccomp 2.5 has no export-to-memory), read it back."""
    cdef int fd = memfd_create(b"pyrunc-seccomp", MFD_CLOEXEC)
    cdef int rc
    cdef struct_stat st
    cdef char *buf
    cdef ssize_t got
    cdef size_t done = 0
    if fd < 0:
        raise OSError(errno, "memfd_create")
    try:
        rc = seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise OSError(-rc, "seccomp_export_bpf")
        if fstat(fd, &st) < 0:
            raise OSError(errno, "fstat seccomp program")
        buf = <char *>malloc(st.st_size + 1)
        if buf == NULL:
            raise MemoryError()
        try:
            while done < <size_t>st.st_size:
                got = pread(fd, buf + done, st.st_size - done, done)
                if got <= 0:
                    raise OSError(errno if got < 0 else 5, "pread seccomp program")
                done += got
            return buf[:done]
        finally:
            free(buf)
    finally:
        close(fd)


def build(uint32_t default_action, arches, rules, bint optimize=False):
    """Compile a filter and return its BPF program (struct sock_filter array, host endian).

    arches: extra SCMP_ARCH_* tokens (the native arch is always in the filter); a refused one
    raises ArchError with its position in `arches`.
    rules: (action, syscall_number, ((arg, op, datum_a, datum_b), ...)) tuples; a refused rule
    raises RuleError with its position in `rules`.
    optimize: ask libseccomp for its binary-tree layout (worth it for long rule lists).
    """
    cdef scmp_filter_ctx ctx = seccomp_init(default_action)
    cdef int rc
    cdef uint32_t token
    if ctx == NULL:
        raise DefaultActionError(f"seccomp_init refused default action {default_action:#x}")
    try:
        # The runtime decides no_new_privs itself; the exported program does not carry it anyway.
        seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        if optimize:
            seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        for index, token in enumerate(arches):
            rc = seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -17:  # -EEXIST: already there (the native arch)
                raise ArchError(index, -rc)
        for index, (action, nr, conds) in enumerate(rules):
            rc = _add_rule(ctx, action, nr, conds)
            if rc < 0:
                raise RuleError(index, -rc)
        return _export(ctx)
    finally:
        seccomp_release(ctx)


def action_available(uint32_t action):
    """0 if the running kernel supports the SECCOMP_RET_* `action`, else the errno."""
    cdef uint32_t value = action
    if syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &value) == 0:
        return 0
    return errno


def flags_supported(unsigned int flags):
    """0 if the running kernel accepts this SECCOMP_FILTER_FLAG_* combination, else the errno.

    The kernel checks the flags before it reads the program, so a NULL program answers EFAULT
    exactly when the flags themselves are acceptable; nothing is installed either way.
    """
    if syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, NULL) == 0:
        return 0  # cannot happen with a NULL program; treat as accepted
    if errno == 14:  # EFAULT
        return 0
    return errno


def load(bytes program, unsigned int flags=0):
    """Install `program` on the calling thread (tests only). Returns the listener fd when
    SECCOMP_FILTER_FLAG_NEW_LISTENER is in `flags`, else -1. Needs no_new_privs or
    CAP_SYS_ADMIN, like any seccomp filter."""
    cdef sock_fprog prog
    cdef long rc
    cdef const char *data = program
    if len(program) == 0 or len(program) % sizeof(sock_filter):
        raise ValueError("program length is not a multiple of sizeof(struct sock_filter)")
    prog.len = <unsigned short>(len(program) // sizeof(sock_filter))
    prog.filter = <sock_filter *>data
    rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog)
    if rc < 0:
        raise OSError(errno, "seccomp(SECCOMP_SET_MODE_FILTER)")
    return <int>rc if flags & 8 else -1
