# cython: language_level=3
"""The boundary between Python and the C that runs after fork.

Python prepares a plan (pyrunc/plan.py); this module clones the container's child with it, speaks
the parent's side of the sync protocol, seals the init helper into a memfd, and runs hooks with the
same C code the child uses. It parses no JSON and decides no policy.
"""

from libc.errno cimport errno, EINTR, ECONNRESET
from libc.stdint cimport int32_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset, strerror

cdef extern from "<sys/socket.h>" nogil:
    int AF_UNIX, SOCK_SEQPACKET, SOCK_CLOEXEC, SOL_SOCKET, SCM_RIGHTS, MSG_NOSIGNAL, MSG_CMSG_CLOEXEC
    int MSG_DONTWAIT
    ctypedef unsigned int socklen_t
    struct iovec:
        void *iov_base
        size_t iov_len
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    int socketpair(int domain, int type, int protocol, int sv[2])
    ssize_t recvmsg(int fd, msghdr *msg, int flags)
    ssize_t sendmsg(int fd, const msghdr *msg, int flags)
    ssize_t send(int fd, const void *buf, size_t len, int flags)
    ssize_t c_recv "recv"(int fd, void *buf, size_t len, int flags)
    cmsghdr *CMSG_FIRSTHDR(msghdr *msg)
    unsigned char *CMSG_DATA(cmsghdr *cmsg)
    size_t CMSG_SPACE(size_t len)
    size_t CMSG_LEN(size_t len)

cdef extern from "<unistd.h>" nogil:
    int close(int fd)
    ssize_t read(int fd, void *buf, size_t count)
    long syscall(long number, ...)

cdef extern from "<sys/syscall.h>" nogil:
    long SYS_pidfd_open, SYS_pidfd_send_signal, SYS_memfd_create, SYS_renameat2

cdef extern from "<sys/sendfile.h>" nogil:
    ssize_t sendfile(int out_fd, int in_fd, long *offset, size_t count)

cdef extern from "<fcntl.h>" nogil:
    int open(const char *path, int flags, ...)
    int fcntl(int fd, int cmd, ...)
    int O_RDONLY, O_CLOEXEC, AT_FDCWD
    int F_ADD_SEALS, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE

cdef extern from "<sys/mman.h>" nogil:
    unsigned int MFD_CLOEXEC, MFD_ALLOW_SEALING

cdef extern from "child.h" nogil:
    int pyrunc_spawn(const char *plan, size_t plan_len, int sync_fd, int plan_fd, int helper_fd,
                     uint64_t clone_flags, int direct, int cgroup_fd, int *placed)
    int pyrunc_userns_fd(const char *uid_map, const char *gid_map)
    int pyrunc_idmapped_tree(const char *source, int userns_fd, int recursive, int recursive_idmap,
                             uint64_t attr_set, uint64_t attr_clr)

cdef extern from "common.h" nogil:
    int SYNC_MAX_PAYLOAD
    struct sync_header:
        uint32_t type
        int32_t err
        uint32_t len
    int c_run_hook "run_hook"(const char *path, char **argv, char **envp, unsigned timeout,
                              const char *state, size_t state_len, char *err, size_t errlen)

cdef extern from "<stdlib.h>" nogil:
    void *malloc(size_t size)
    void free(void *ptr)


cdef _oserror(int err, str what):
    return OSError(err, f"{what}: {strerror(err).decode()}")


def sync_socketpair():
    """A SOCK_SEQPACKET pair (message boundaries kept), both ends close-on-exec."""
    cdef int sv[2]
    if socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0:
        raise _oserror(errno, "socketpair")
    return sv[0], sv[1]


def spawn(bytes plan, int sync_fd, int plan_fd, int helper_fd, unsigned long long clone_flags, bint direct,
          int cgroup_fd=-1):
    """Start the container's child; returns its pid (the init's when `direct`, else stage 1's) and
    whether it was born in the cgroup `cgroup_fd` (a v2 directory; -1: none), as (pid, placed)."""
    cdef const char *buf = plan
    cdef size_t length = len(plan)
    cdef int pid
    cdef int placed = 0
    with nogil:
        pid = pyrunc_spawn(buf, length, sync_fd, plan_fd, helper_fd, clone_flags, direct, cgroup_fd, &placed)
    if pid < 0:
        raise _oserror(errno, "clone the container's init")
    return pid, bool(placed)


def recv(int fd):
    """One sync message: (type, errno, payload bytes); (0, 0, b'') at EOF."""
    cdef char *raw = <char *>malloc(sizeof(sync_header) + SYNC_MAX_PAYLOAD)
    cdef sync_header hdr
    cdef ssize_t n
    if raw == NULL:
        raise MemoryError()
    try:
        while True:
            with nogil:
                n = read(fd, raw, sizeof(sync_header) + SYNC_MAX_PAYLOAD)
            if n >= 0 or errno != EINTR:
                break
        if n < 0 and errno == ECONNRESET:
            # The init died with our message unread (e.g. the SETUP ack it had not waited for yet).
            # The kernel reports that once, ahead of what the init sent before it died, which is
            # still queued: its error message. Read that now, without waiting: nothing more comes.
            with nogil:
                n = c_recv(fd, raw, sizeof(sync_header) + SYNC_MAX_PAYLOAD, MSG_DONTWAIT)
            if n < 0:
                return 0, 0, b""  # nothing queued: as end-of-file
        if n < 0:
            raise _oserror(errno, "read from the container's init")
        if n < <ssize_t>sizeof(sync_header):
            return 0, 0, b""
        memcpy(&hdr, raw, sizeof(sync_header))
        return hdr.type, hdr.err, raw[sizeof(sync_header):n]
    finally:
        free(raw)


def send_msg(int fd, unsigned int msg_type, bytes payload=b""):
    """Send one sync message; False if the child is gone."""
    cdef sync_header hdr
    cdef size_t length = len(payload)
    cdef bytes packet
    if length > <size_t>SYNC_MAX_PAYLOAD:
        raise ValueError("sync payload too large")
    hdr.type = msg_type
    hdr.err = 0
    hdr.len = <uint32_t>length
    packet = (<char *>&hdr)[:sizeof(sync_header)] + payload
    return send(fd, <const char *>packet, len(packet), MSG_NOSIGNAL) >= 0


def sealed_copy(str path, str name="pyrunc-init"):
    """A sealed memfd holding a copy of `path`: executable, and nobody can write to it.
    The container's processes are started from it, never from a host file (CVE-2019-5736)."""
    cdef bytes bpath = path.encode()
    cdef bytes bname = name.encode()
    cdef int src = open(bpath, O_RDONLY | O_CLOEXEC)
    cdef int mfd
    cdef ssize_t n
    if src < 0:
        raise _oserror(errno, f"open {path}")
    mfd = <int>syscall(SYS_memfd_create, <const char *>bname, MFD_CLOEXEC | MFD_ALLOW_SEALING)
    if mfd < 0:
        close(src)
        raise _oserror(errno, "memfd_create")
    while True:
        n = sendfile(mfd, src, NULL, 1 << 20)
        if n == 0:
            break
        if n < 0:
            close(src)
            close(mfd)
            raise _oserror(errno, f"copy {path} into a memfd")
    close(src)
    if fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0:
        close(mfd)
        raise _oserror(errno, "seal the memfd")
    return mfd


def rename_noreplace(str old, str new):
    """rename(2) that fails with EEXIST rather than replace `new`: plain rename silently replaces
    an empty directory, e.g. a container directory that a delete has just emptied."""
    cdef bytes bold = old.encode()
    cdef bytes bnew = new.encode()
    if syscall(SYS_renameat2, AT_FDCWD, <const char *>bold, AT_FDCWD, <const char *>bnew, 1) < 0:
        raise OSError(errno, strerror(errno).decode(), new)  # flags 1: RENAME_NOREPLACE


def pidfd_open(int pid):
    cdef long fd = syscall(SYS_pidfd_open, pid, 0)
    if fd < 0:
        raise _oserror(errno, f"pidfd_open {pid}")
    return <int>fd


def pidfd_send_signal(int pidfd, int sig):
    if syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0:
        raise _oserror(errno, "pidfd_send_signal")


cdef char **_cstrings(list items, list keep):
    cdef char **arr = <char **>malloc((len(items) + 1) * sizeof(char *))
    cdef Py_ssize_t i
    if arr == NULL:
        raise MemoryError()
    for i, item in enumerate(items):
        b = item.encode() if isinstance(item, str) else bytes(item)
        keep.append(b)
        arr[i] = <char *>b
    arr[len(items)] = NULL
    return arr


def run_hook(str path, list args, list env, unsigned int timeout, bytes state):
    """Run one hook with `state` on stdin; returns None, or the failure as text
    ("exit status 1, stderr: ...")."""
    cdef list keep = []
    cdef bytes bpath = path.encode()
    cdef char **argv = _cstrings(args or [path], keep)
    cdef char **envp = _cstrings(env, keep)
    cdef char err[4096]
    cdef int rc
    cdef const char *cpath = bpath
    cdef const char *cstate = state
    cdef size_t state_len = len(state)
    try:
        with nogil:
            rc = c_run_hook(cpath, argv, envp, timeout, cstate, state_len, err, sizeof(err))
    finally:
        free(argv)
        free(envp)
    if rc == 0:
        return None
    return err.decode(errors="replace")


cdef extern from "<sys/prctl.h>" nogil:
    int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)
    int PR_SET_CHILD_SUBREAPER
    int PR_SET_PDEATHSIG


def set_child_subreaper():
    """Orphaned descendants (the init of a double fork, daemons of a container without a pid
    namespace) come to us to be reaped. A direct prctl: python-prctl costs 4.5 ms to import."""
    if prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0:
        raise _oserror(errno, "PR_SET_CHILD_SUBREAPER")


def set_parent_death_signal(int signum):
    """The kernel sends us `signum` when the thread that forked us ends (PR_SET_PDEATHSIG)."""
    if prctl(PR_SET_PDEATHSIG, <unsigned long>signum, 0, 0, 0) < 0:
        raise _oserror(errno, "PR_SET_PDEATHSIG")


cdef extern from "<sys/un.h>" nogil:
    struct sockaddr_un:
        unsigned short sun_family
        char sun_path[108]

cdef extern from "<sys/socket.h>" nogil:
    int SOCK_STREAM
    int socket(int domain, int type, int protocol)
    int connect(int fd, const void *addr, socklen_t len)


def connect_unix(str path):
    """A connected AF_UNIX stream socket (close-on-exec), e.g. to a --console-socket."""
    cdef sockaddr_un addr
    cdef bytes bpath = path.encode()
    cdef int fd
    if <size_t>len(bpath) >= sizeof(addr.sun_path):
        raise OSError(36, f"socket path too long: {path}")
    addr.sun_family = AF_UNIX
    memcpy(addr.sun_path, <const char *>bpath, len(bpath) + 1)
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)
    if fd < 0:
        raise _oserror(errno, "socket")
    if connect(fd, &addr, sizeof(addr)) < 0:
        err = errno
        close(fd)
        raise _oserror(err, f"connect to {path}")
    return fd


def stream_socketpair():
    cdef int sv[2]
    if socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0:
        raise _oserror(errno, "socketpair")
    return sv[0], sv[1]


def recv_fd(int sock):
    """Receive one fd sent with SCM_RIGHTS (the pty master); returns (fd, payload)."""
    cdef char buf[256]
    cdef char control[64]
    cdef iovec iov
    cdef msghdr msg
    cdef cmsghdr *cmsg
    cdef ssize_t n
    cdef int fd = -1
    iov.iov_base = buf
    iov.iov_len = sizeof(buf)
    msg.msg_name = NULL
    msg.msg_namelen = 0
    msg.msg_iov = &iov
    msg.msg_iovlen = 1
    msg.msg_control = control
    msg.msg_controllen = sizeof(control)
    msg.msg_flags = 0
    with nogil:
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)
    if n < 0:
        raise _oserror(errno, "receive the pty master")
    cmsg = CMSG_FIRSTHDR(&msg)
    if cmsg == NULL or cmsg.cmsg_type != SCM_RIGHTS:
        raise OSError(0, "no fd received on the console socket")
    memcpy(&fd, CMSG_DATA(cmsg), sizeof(int))
    return fd, buf[:n]


cdef extern from "<sys/syscall.h>" nogil:
    long SYS_pidfd_getfd


def pidfd_getfd(int pidfd, int targetfd):
    """A copy of another process's fd (e.g. the init's seccomp listener)."""
    cdef long fd = syscall(SYS_pidfd_getfd, pidfd, targetfd, 0)
    if fd < 0:
        raise _oserror(errno, "pidfd_getfd")
    return <int>fd


def send_with_fd(int sock, bytes payload, int fd):
    """One sendmsg: `payload` with exactly one fd in SCM_RIGHTS."""
    cdef char control[64]
    cdef iovec iov
    cdef msghdr msg
    cdef cmsghdr *cmsg
    cdef const char *data = payload
    memset(control, 0, sizeof(control))
    iov.iov_base = <void *>data
    iov.iov_len = len(payload)
    msg.msg_name = NULL
    msg.msg_namelen = 0
    msg.msg_iov = &iov
    msg.msg_iovlen = 1
    msg.msg_control = control
    msg.msg_controllen = CMSG_SPACE(sizeof(int))
    msg.msg_flags = 0
    cmsg = CMSG_FIRSTHDR(&msg)
    cmsg.cmsg_level = SOL_SOCKET
    cmsg.cmsg_type = SCM_RIGHTS
    cmsg.cmsg_len = CMSG_LEN(sizeof(int))
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int))
    if sendmsg(sock, &msg, MSG_NOSIGNAL) < 0:
        raise _oserror(errno, "sendmsg")


def userns_fd(str uid_map, str gid_map):
    """An fd of a new user namespace with these maps (lines "inside outside count")."""
    cdef bytes buid = uid_map.encode()
    cdef bytes bgid = gid_map.encode()
    cdef const char *cu = buid
    cdef const char *cg = bgid
    cdef int fd
    with nogil:
        fd = pyrunc_userns_fd(cu, cg)
    if fd < 0:
        raise _oserror(errno, "create a user namespace for an idmapped mount")
    return fd


def idmapped_tree(str source, int userns_fd, bint recursive, bint recursive_idmap,
                  unsigned long long attr_set, unsigned long long attr_clr):
    """A detached, idmapped clone of `source` (open_tree + mount_setattr) for the child to attach."""
    cdef bytes bsource = source.encode()
    cdef const char *csource = bsource
    cdef int fd
    with nogil:
        fd = pyrunc_idmapped_tree(csource, userns_fd, recursive, recursive_idmap, attr_set, attr_clr)
    if fd < 0:
        raise _oserror(errno, f"idmap {source}")
    return fd
