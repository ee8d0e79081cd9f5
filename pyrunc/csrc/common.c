/* Plan parsing, the sync protocol and small syscall helpers shared by the child and the init helper.
 * Everything here runs after fork and before execve: no Python, only async-signal-safe-ish libc
 * (the forking process is single-threaded, so snprintf is safe). */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int g_sync_fd = -1;
const char *g_stage = "init";

int plan_next(const char *plan, size_t len, size_t *off, struct rec *out)
{
    uint32_t hdr[2];
    if (*off + sizeof(hdr) > len)
        return 0;
    memcpy(hdr, plan + *off, sizeof(hdr));
    if (hdr[1] > len - *off - sizeof(hdr))
        return -1;
    out->tag = hdr[0];
    out->len = hdr[1];
    out->data = plan + *off + sizeof(hdr);
    *off += sizeof(hdr) + hdr[1];
    return 1;
}

int plan_find(const char *plan, size_t len, uint32_t tag, struct rec *out)
{
    size_t off = 0;
    int rc;
    while ((rc = plan_next(plan, len, &off, out)) > 0)
        if (out->tag == tag)
            return 1;
    return rc;
}

void cur_init(struct cur *c, const struct rec *r)
{
    c->p = r->data;
    c->end = r->data + r->len;
    c->bad = 0;
}

uint32_t cur_u32(struct cur *c)
{
    uint32_t v = 0;
    if (c->end - c->p < 4) {
        c->bad = 1;
        return 0;
    }
    memcpy(&v, c->p, 4);
    c->p += 4;
    return v;
}

uint64_t cur_u64(struct cur *c)
{
    uint64_t v = 0;
    if (c->end - c->p < 8) {
        c->bad = 1;
        return 0;
    }
    memcpy(&v, c->p, 8);
    c->p += 8;
    return v;
}

const char *cur_str(struct cur *c)
{
    const char *s = c->p;
    const char *nul = memchr(c->p, '\0', c->end - c->p);
    if (!nul) {
        c->bad = 1;
        return "";
    }
    c->p = nul + 1;
    return s;
}

int sync_send(int fd, uint32_t type, int32_t err, const void *payload, uint32_t len)
{
    char buf[sizeof(struct sync_header) + SYNC_MAX_PAYLOAD];
    struct sync_header h = {type, err, len};
    ssize_t n;
    if (len > SYNC_MAX_PAYLOAD)
        len = h.len = SYNC_MAX_PAYLOAD;
    memcpy(buf, &h, sizeof(h));
    if (len)
        memcpy(buf + sizeof(h), payload, len);
    /* write(2), not send(2): after a seccomp filter is loaded, the fewer syscalls the profile
     * must allow (or must not NOTIFY) the better; runc's init has the same rule for write. */
    do
        n = write(fd, buf, sizeof(h) + len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

int sync_recv(int fd, struct sync_header *hdr, char *buf, size_t bufsize)
{
    char raw[sizeof(struct sync_header) + SYNC_MAX_PAYLOAD];
    ssize_t n;
    size_t len;
    do
        n = read(fd, raw, sizeof(raw));
    while (n < 0 && errno == EINTR);
    if (n < (ssize_t)sizeof(*hdr))
        return -1;
    memcpy(hdr, raw, sizeof(*hdr));
    len = (size_t)n - sizeof(*hdr);
    if (len >= bufsize)
        len = bufsize - 1;
    memcpy(buf, raw + sizeof(*hdr), len);
    buf[len] = '\0';
    return (int)len;
}

size_t sync_wait_ack(int fd, char *buf, size_t bufsize)
{
    struct sync_header h;
    int n = sync_recv(fd, &h, buf, bufsize);
    if (n < 0 || h.type != SYNC_ACK)
        _exit(1); /* the parent died or gave up: nothing to report to */
    return (size_t)n;
}

/* strerror as Go spells it ("no such file or directory"): runc's messages carry Go's error texts,
 * and managers match on them (dockerd maps "no such file or directory" to exit status 127). */
const char *errtext(int err)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), "%s", strerror(err));
    if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

static void report(int err, const char *fmt, va_list ap)
{
    char msg[4096];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    if (g_sync_fd >= 0 && sync_send(g_sync_fd, SYNC_ERROR, err, msg, (uint32_t)n) == 0)
        return;
    /* No parent to tell (e.g. after the sync socket closed): stderr is all we have. */
    dprintf(2, "pyrunc %s: %s%s%s\n", g_stage, msg, err ? ": " : "", err ? errtext(err) : "");
}

void die(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(err, fmt, ap);
    va_end(ap);
    _exit(1);
}

void die_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(0, fmt, ap);
    va_end(ap);
    _exit(1);
}

int write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    ssize_t n;
    int saved;
    if (fd < 0)
        return -1;
    n = write(fd, data, len);
    saved = errno;
    close(fd);
    errno = saved;
    if (n < 0)
        return -1;
    if ((size_t)n != len) {
        errno = EIO;
        return -1;
    }
    return 0;
}

/* Python ignores SIGPIPE and installs handlers; an ignored signal stays ignored across execve,
 * so everything goes back to default, and nothing stays blocked. */
void reset_signals(void)
{
    sigset_t none;
    struct sigaction dfl;
    int sig;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

int set_cloexec(int fd, int on)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

void close_range_except(int from, const int *keep, int nkeep, unsigned flags)
{
    /* Walk the gaps between the fds to keep, in ascending order. */
    int sorted[CLOSE_RANGE_KEEP_MAX];
    int n = 0, i, j;
    unsigned next = (unsigned)from;
    for (i = 0; i < nkeep && n < CLOSE_RANGE_KEEP_MAX; i++)
        if (keep[i] >= from)
            sorted[n++] = keep[i];
    for (i = 1; i < n; i++)
        for (j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            int t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    for (i = 0; i < n; i++) {
        if ((unsigned)sorted[i] > next)
            syscall(SYS_close_range, next, (unsigned)sorted[i] - 1, flags);
        if ((unsigned)sorted[i] + 1 > next)
            next = (unsigned)sorted[i] + 1;
    }
    syscall(SYS_close_range, next, ~0U, flags);
}

void cloexec_from(int from, const int *keep, int nkeep)
{
    close_range_except(from, keep, nkeep, CLOSE_RANGE_CLOEXEC);
}
