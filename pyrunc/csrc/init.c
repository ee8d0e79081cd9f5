/* pyrunc-init: the last steps of a container's process, as a small static program.
 *
 * The child (csrc/child.c) has built the namespaces and the rootfs and executes this program from a
 * sealed memfd, with the plan in a memfd named by argv[1]. From here:
 *   seccomp (when it must be loaded while still privileged) -> credentials and capabilities
 *   -> cwd -> no_new_privs, seccomp -> find the executable -> READY to the parent, wait for its ACK
 *   -> open exec.fifo for writing (blocks until `pyrunc start` opens it) -> startContainer hooks
 *   -> execve of the user's process.
 * Before READY, failures go to the parent over the sync socket. After it, `start` is reading the
 * fifo: an error is written there, and a clean execve closes it (O_CLOEXEC), which `start` sees as EOF.
 *
 * A created container therefore costs this program's few pages, not a copy of the Python heap,
 * and the process that execs the container's binary is a sealed memfd nobody can rewrite
 * (CVE-2019-5736).
 */
#include "child.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <grp.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define MAX_ARGS 4096

struct init {
    const char *plan;
    size_t plan_len;
    int sync_fd;
    int fifo_fd;      /* O_PATH to exec.fifo, -1 for exec */
    int console_fd;
    int fifo_write;   /* after start opened the fifo */
    char *argv[MAX_ARGS + 1];
    char *envp[MAX_ARGS + 2];
    char home_env[4200];
    char exe[PATH_MAX];
};

static struct init g;

static int find(uint32_t tag, struct rec *r)
{
    return plan_find(g.plan, g.plan_len, tag, r) > 0;
}

/* After READY nobody reads the sync socket: errors go to `start` through the fifo. */
static void fail_after_ready(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail_after_ready(const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    if (g.fifo_write >= 0)
        (void)!write(g.fifo_write, msg, (size_t)n);
    else
        dprintf(2, "pyrunc init: %s\n", msg);
    _exit(127);
}

static void load_plan(const char *fdarg)
{
    struct stat st;
    int fd = atoi(fdarg);
    void *map;
    if (fstat(fd, &st) < 0)
        die(errno, "stat the plan");
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        die(errno, "map the plan");
    close(fd);
    g.plan = map;
    g.plan_len = (size_t)st.st_size;
}

static void read_fds(void)
{
    struct rec r;
    struct cur c;
    g.sync_fd = g.fifo_fd = g.console_fd = g.fifo_write = -1;
    if (!find(T_FDS, &r))
        return;
    cur_init(&c, &r);
    g.sync_fd = (int)cur_u32(&c);
    g.fifo_fd = (int)cur_u32(&c);
    (void)cur_u32(&c); /* the plan memfd, already closed */
    g.console_fd = (int)cur_u32(&c);
    g_sync_fd = g.sync_fd;
    if (g.sync_fd >= 0)
        set_cloexec(g.sync_fd, 1);
    if (g.fifo_fd >= 0)
        set_cloexec(g.fifo_fd, 1);
}

static void read_strings(uint32_t tag, char **out, size_t max)
{
    struct rec r;
    struct cur c;
    uint32_t n, i;
    out[0] = NULL;
    if (!find(tag, &r))
        return;
    cur_init(&c, &r);
    n = cur_u32(&c);
    if (n > max)
        die_msg("too many %s", tag == T_ARGS ? "arguments" : "environment variables");
    for (i = 0; i < n; i++)
        out[i] = (char *)cur_str(&c);
    out[n] = NULL;
    if (c.bad)
        die_msg("malformed plan record %u", tag);
}

static const char *getenv_in(char **envp, const char *name)
{
    size_t len = strlen(name);
    for (; *envp; envp++)
        if (!strncmp(*envp, name, len) && (*envp)[len] == '=')
            return *envp + len + 1;
    return NULL;
}

/* ---- seccomp ------------------------------------------------------------------------- */

static void load_seccomp(void)
{
    struct rec r;
    struct cur c;
    struct sock_fprog prog;
    uint32_t flags, notify;
    long fd;
    if (!find(T_SECCOMP, &r))
        return;
    cur_init(&c, &r);
    flags = cur_u32(&c);
    notify = cur_u32(&c);
    if (c.bad || (c.end - c.p) % sizeof(struct sock_filter))
        die_msg("malformed seccomp program");
    prog.len = (unsigned short)((c.end - c.p) / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)c.p;
    fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (fd < 0)
        die(errno, "load the seccomp filter");
    if (notify) {
        /* Only the fd's number goes out (write(2)); the parent copies the fd with pidfd_getfd
         * and hands it to linux.seccomp.listenerPath with the state, then ACKs. */
        char ack[16];
        int32_t number = (int32_t)fd;
        if (sync_send(g.sync_fd, SYNC_SECCOMP_FD, 0, &number, sizeof(number)) < 0)
            die(errno, "report the seccomp listener fd");
        sync_wait_ack(g.sync_fd, ack, sizeof(ack));
        close((int)fd);
    }
}

/* ---- personality, scheduler, I/O priority --------------------------------------------- */

struct sched_attr_v1 {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
};

/* linux.memoryPolicy: set_mempolicy(2) is kept across fork and execve, so setting it here gives
 * the container's process its policy from its first allocation. Before seccomp, which may deny it. */
static void apply_memory_policy(void)
{
    struct rec r;
    struct cur c;
    uint32_t mode, len;
    const char *mask, *where;
    if (!find(T_MEMORY_POLICY, &r))
        return;
    cur_init(&c, &r);
    mode = cur_u32(&c);
    len = cur_u32(&c);
    if (c.bad || len > (size_t)(c.end - c.p) || len % sizeof(unsigned long))
        die_msg("malformed plan: memory policy record");
    mask = c.p;
    c.p += len;
    where = cur_str(&c);
    /* maxnode counts one past the mask's bits: the kernel reads maxnode - 1 of them. */
    if (syscall(SYS_set_mempolicy, (int)mode, len ? (const unsigned long *)mask : NULL,
                len ? (unsigned long)len * 8 + 1 : 0) < 0)
        die(errno, "set %s", where ? where : "linux.memoryPolicy");
}

/* Before credentials: real-time policies and I/O classes need privileges the user may lack. */
static void apply_process_attributes(void)
{
    struct rec r;
    apply_memory_policy();
    if (find(T_PERSONALITY, &r)) {
        struct cur c;
        cur_init(&c, &r);
        if (personality(cur_u32(&c)) < 0)
            die(errno, "set linux.personality");
    }
    if (find(T_SCHEDULER, &r)) {
        struct sched_attr_v1 attr;
        struct cur c;
        memset(&attr, 0, sizeof(attr));
        cur_init(&c, &r);
        attr.size = sizeof(attr);
        attr.sched_policy = cur_u32(&c);
        attr.sched_nice = (int32_t)cur_u32(&c);
        attr.sched_priority = cur_u32(&c);
        attr.sched_flags = cur_u64(&c);
        attr.sched_runtime = cur_u64(&c);
        attr.sched_deadline = cur_u64(&c);
        attr.sched_period = cur_u64(&c);
        if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
            die(errno, "set process.scheduler (policy %u)", attr.sched_policy);
    }
    if (find(T_IOPRIO, &r)) {
        struct cur c;
        uint32_t class_, prio;
        cur_init(&c, &r);
        class_ = cur_u32(&c);
        prio = cur_u32(&c);
        /* IOPRIO_WHO_PROCESS, this process; the value is class << 13 | level. */
        if (syscall(SYS_ioprio_set, 1, 0, (int)(class_ << 13 | prio)) < 0)
            die(errno, "set process.ioPriority (class %u, priority %u)", class_, prio);
    }
}

/* ---- credentials ---------------------------------------------------------------------- */

static void drop_bounding(uint64_t bounding)
{
    for (int cap = 0; cap < 64; cap++) {
        if (bounding & (1ULL << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break; /* past the kernel's last capability */
            die(errno, "drop capability %d from the bounding set", cap);
        }
    }
}

static void set_caps(uint64_t effective, uint64_t permitted, uint64_t inheritable)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    data[0].effective = (uint32_t)effective;
    data[1].effective = (uint32_t)(effective >> 32);
    data[0].permitted = (uint32_t)permitted;
    data[1].permitted = (uint32_t)(permitted >> 32);
    data[0].inheritable = (uint32_t)inheritable;
    data[1].inheritable = (uint32_t)(inheritable >> 32);
    if (syscall(SYS_capset, &hdr, data) < 0) {
        /* The usual cause: a capability outside the bounding set we were started with (pyrunc
         * names those before it starts; this is the fallback). Say which, by number. */
        char missing[256] = "";
        size_t len = 0;
        int err = errno;
        uint64_t wanted = effective | permitted | inheritable;
        for (int cap = 0; cap < 64 && err == EPERM && len < sizeof(missing) - 8; cap++)
            if ((wanted & (1ULL << cap)) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 0)
                len += (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%d", len ? ", " : "", cap);
        if (len)
            die(err, "set capabilities (not in the bounding set: capability number %s)", missing);
        die(err, "set capabilities");
    }
}

static void raise_ambient(uint64_t ambient)
{
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (int cap = 0; cap < 64; cap++)
        if (ambient & (1ULL << cap))
            /* As runc: the kernel refuses an ambient capability that is not also permitted and
             * inheritable; that is the config's choice, not an error. */
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
}

static void set_user(uint32_t *uid_out)
{
    struct rec r;
    struct cur c;
    uint32_t uid = 0, gid = 0, umask_v = 0022, ngroups = 0;
    gid_t groups[256];
    if (find(T_USER, &r)) {
        cur_init(&c, &r);
        uid = cur_u32(&c);
        gid = cur_u32(&c);
        umask_v = cur_u32(&c);
        ngroups = cur_u32(&c);
        if (ngroups > 256)
            die_msg("too many additional gids");
        for (uint32_t i = 0; i < ngroups; i++)
            groups[i] = cur_u32(&c);
        if (c.bad)
            die_msg("malformed user record");
    }
    if (setgroups(ngroups, groups) < 0 && !(errno == EPERM && ngroups == 0))
        die(errno, "setgroups (additionalGids)");
    if (setresgid(gid, gid, gid) < 0)
        die(errno, "setgid %u", gid);
    if (setresuid(uid, uid, uid) < 0)
        die(errno, "setuid %u", uid);
    if (umask_v != 0xffffffffU)
        umask((mode_t)umask_v);
    *uid_out = uid;
}

/* The capabilities this kernel knows: capset refuses bits past CAP_LAST_CAP. */
static uint64_t known_caps(void)
{
    uint64_t mask = 0;
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
            break;
        mask |= 1ULL << cap;
    }
    return mask;
}

static void apply_credentials(void)
{
    struct rec r;
    struct cur c;
    /* Without process.capabilities the process gets none, as with runc. */
    uint64_t bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0, known;
    uint32_t uid;
    int have_caps = find(T_CAPS, &r);
    if (have_caps) {
        cur_init(&c, &r);
        bounding = cur_u64(&c);
        effective = cur_u64(&c);
        permitted = cur_u64(&c);
        inheritable = cur_u64(&c);
        ambient = cur_u64(&c);
    }
    known = known_caps();
    bounding &= known;
    effective &= known;
    permitted &= known;
    inheritable &= known;
    ambient &= known;
    drop_bounding(bounding);
    /* Keep the permitted set across the uid change, then set the exact sets. */
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        die(errno, "PR_SET_KEEPCAPS");
    set_user(&uid);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        die(errno, "PR_SET_KEEPCAPS");
    set_caps(effective & bounding, permitted & bounding, inheritable);
    raise_ambient(ambient);
}

/* HOME from the container's /etc/passwd when the config did not set it, as runc does.
 *
 * That file is the container's: a hostile image, or a running container before an exec, can make
 * it a fifo (open would block), a device (`ln -s /dev/zero`: a line that never ends) or a huge file.
 * Only a regular file is read, at most PASSWD_MAX_BYTES, with lines of at most PASSWD_MAX_LINE (the
 * bound of runc's bufio.Scanner); past these create and exec fail with one line, as runc does
 * ("token too long"), rather than spin or block with the container's lock held. A file that cannot
 * be opened gives HOME=/, as with runc. */
#define PASSWD_MAX_LINE 65536
#define PASSWD_MAX_BYTES (64 << 20)

/* One passwd line, NUL-terminated; 1 (and HOME set) when it is `uid`'s entry with a home. */
static int passwd_entry_home(char *line, uid_t uid)
{
    char *fields[7], *p = line, *end;
    unsigned long id;
    int i;
    for (i = 0; i < 7 && p; i++) {
        fields[i] = p;
        p = strchr(p, ':');
        if (p)
            *p++ = '\0';
    }
    if (i < 6 || !fields[2][0] || !fields[5][0])
        return 0;
    errno = 0;
    id = strtoul(fields[2], &end, 10);
    if (*end || errno || (uid_t)id != uid)
        return 0;
    snprintf(g.home_env, sizeof(g.home_env), "HOME=%s", fields[5]);
    return 1;
}

/* 1 when found, 0 when not; dies on a file that is not a bounded regular file. */
static int passwd_home(int fd, uid_t uid)
{
    static char buf[PASSWD_MAX_LINE + 1];
    size_t have = 0, total = 0;
    struct stat st;
    if (fstat(fd, &st) < 0)
        die(errno, "stat /etc/passwd (read for HOME, which process.env does not set)");
    if (!S_ISREG(st.st_mode))
        die_msg("/etc/passwd (read for HOME, which process.env does not set) is not a regular file");
    for (;;) {
        ssize_t n = read(fd, buf + have, PASSWD_MAX_LINE - have);
        char *line = buf, *nl;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die(errno, "read /etc/passwd (for HOME)");
        total += (size_t)n;
        if (total > PASSWD_MAX_BYTES)
            die_msg("/etc/passwd (read for HOME) is larger than %d bytes", PASSWD_MAX_BYTES);
        have += (size_t)n;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = '\0';
            if (passwd_entry_home(line, uid))
                return 1;
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (n == 0) {
            buf[have] = '\0';
            return have && passwd_entry_home(buf, uid);
        }
        if (have == PASSWD_MAX_LINE)
            die_msg("/etc/passwd (read for HOME) has a line longer than %d bytes", PASSWD_MAX_LINE);
    }
}

static void default_home(uid_t uid)
{
    size_t n = 0;
    int fd, found = 0;
    if (getenv_in(g.envp, "HOME"))
        return;
    /* O_NONBLOCK: a fifo must not block the open; the type check then refuses it. */
    fd = open("/etc/passwd", O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0) {
        found = passwd_home(fd, uid);
        close(fd);
    }
    if (!found)
        snprintf(g.home_env, sizeof(g.home_env), "HOME=/");
    while (g.envp[n])
        n++;
    if (n < MAX_ARGS) {
        g.envp[n] = g.home_env;
        g.envp[n + 1] = NULL;
    }
}

/* ---- cwd and the executable ----------------------------------------------------------- */

/* A leaked host directory fd as cwd (e.g. /proc/self/fd/N) would leave the process outside the
 * container's root: getcwd then fails or does not start with "/" (CVE-2024-21626). */
static void verify_cwd(const char *cwd)
{
    char buf[PATH_MAX];
    errno = 0;
    if (getcwd(buf, sizeof(buf)) && buf[0] == '/')
        return;
    if (errno && errno != ENOENT)
        die(errno, "check that cwd \"%s\" is inside the container's root (getcwd)", cwd);
    die_msg("cwd \"%s\" is outside the container's root", cwd);
}

/* As runc: chdir first while still privileged (the runtime may enter a directory the process's
 * user cannot, e.g. /root 0700 for uid 1000), and if that is refused, again as the user (a volume
 * only the user may enter); fail only if neither works. Returns 0 when it must be tried again
 * as the user. The check runs right after the chdir that worked: the privileged one comes before
 * any seccomp filter is loaded, so a profile that denies getcwd does not break it. */
static int enter_cwd(int as_user)
{
    struct rec r;
    struct cur c;
    const char *cwd = "/";
    if (find(T_CWD, &r)) {
        cur_init(&c, &r);
        cwd = cur_str(&c);
    }
    if (chdir(cwd) < 0) {
        if (!as_user && (errno == EACCES || errno == EPERM))
            return 0;
        die(errno, "chdir to cwd (\"%s\") set in config.json", cwd);
    }
    verify_cwd(cwd);
    return 1;
}

static int is_executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EACCES;
    if (access(path, X_OK) < 0)
        return -errno;
    return 0;
}

/* PATH lookup like Go's exec.LookPath, so a missing binary is a create-time error. */
static void find_executable(void)
{
    const char *name = g.argv[0], *path;
    int rc;
    if (!name)
        die_msg("process.args is empty");
    if (strchr(name, '/')) {
        rc = is_executable(name);
        if (rc < 0)
            die_msg("exec: \"%s\": %s", name, errtext(-rc));
        snprintf(g.exe, sizeof(g.exe), "%s", name);
        return;
    }
    path = getenv_in(g.envp, "PATH");
    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        snprintf(g.exe, sizeof(g.exe), "%.*s/%s", (int)len, len ? path : ".", name);
        if (is_executable(g.exe) == 0)
            return;
        path = end ? end + 1 : NULL;
    }
    die_msg("exec: \"%s\": executable file not found in $PATH", name);
}

/* ---- the exec.fifo handshake ---------------------------------------------------------- */

static void report_ready(void)
{
    char buf[16];
    /* The runtime exits once it has our READY: from now on its death is no reason for ours.
     * Cleared before READY, not after: the runtime may be gone by the time its ACK is read. */
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    if (sync_send(g.sync_fd, SYNC_READY, 0, NULL, 0) < 0)
        _exit(1);
    sync_wait_ack(g.sync_fd, buf, sizeof(buf));
    close(g.sync_fd);
    g.sync_fd = g_sync_fd = -1;
}

/* Reopen exec.fifo's O_PATH fd: through /proc/self/fd in the container, or (no mount namespace,
 * no procfs in the chroot) through the handle the child kept from before its chroot. */
static int reopen_fifo(int flags)
{
    char path[64];
    if (pyrunc_fifo_dir >= 0) {
        snprintf(path, sizeof(path), "%d", g.fifo_fd);
        return openat(pyrunc_fifo_dir, path, flags);
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", g.fifo_fd);
    return open(path, flags);
}

static void wait_for_start(void)
{
    if (g.fifo_fd < 0)
        return;
    g.fifo_write = reopen_fifo(O_WRONLY | O_CLOEXEC);
    if (g.fifo_write < 0)
        fail_after_ready("open exec.fifo: %s", errtext(errno));
    close(g.fifo_fd);
    g.fifo_fd = -1;
    if (pyrunc_fifo_dir >= 0)
        close(pyrunc_fifo_dir);
    pyrunc_fifo_dir = -1;
}

static void run_start_container_hooks(void)
{
    char err[4096], state[SYNC_MAX_PAYLOAD];
    struct rec r;
    size_t off = 0, state_len = 0;
    int index = 0;
    /* The parent appends the state (it knows the pid only after clone) to the plan memfd. */
    if (plan_find(g.plan, g.plan_len, T_HOOK_STATE, &r) > 0) {
        state_len = r.len < sizeof(state) ? r.len : sizeof(state);
        memcpy(state, r.data, state_len);
    }
    while (plan_next(g.plan, g.plan_len, &off, &r) > 0) {
        if (r.tag != T_HOOK_START_CONTAINER)
            continue;
        if (run_hook_record(&r, state, state_len, err, sizeof(err)) < 0)
            fail_after_ready("startContainer hook #%d failed: %s", index, err);
        index++;
    }
}

static void close_stray_fds(void)
{
    struct rec r;
    uint32_t preserve = 0;
    int keep[1];
    if (find(T_PRESERVE_FDS, &r)) {
        struct cur c;
        cur_init(&c, &r);
        preserve = cur_u32(&c);
    }
    /* Everything beyond stdio and the preserved fds closes at execve, the fifo's write end
     * included: that close is what tells `start` the process is running. */
    keep[0] = -1;
    cloexec_from(3 + (int)preserve, keep, 0);
}

/* Everything after the plan is mapped: credentials, READY, exec.fifo, execve. Also where the
 * child's setup continues when it ran in this image (join mode, csrc/child.c). */
void pyrunc_init_continue(void)
{
    struct rec r;
    uint32_t uid;
    int nnp, in_cwd;
    g_stage = "init";
    read_fds();
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    read_strings(T_ARGS, g.argv, MAX_ARGS);
    read_strings(T_ENV, g.envp, MAX_ARGS);
    nnp = find(T_NO_NEW_PRIVS, &r);

    apply_process_attributes();
    in_cwd = enter_cwd(0);
    /* Without no_new_privs loading a filter needs CAP_SYS_ADMIN: do it before dropping caps. */
    if (!nnp)
        load_seccomp();
    apply_credentials();
    uid = getuid();
    default_home(uid);
    if (!in_cwd)
        enter_cwd(1);
    if (nnp) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            die(errno, "set no_new_privs");
        load_seccomp();
    }
    find_executable();
    if (g.fifo_fd >= 0 && pyrunc_fifo_dir < 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", g.fifo_fd);
        if (access(path, F_OK) < 0)
            die(errno, "exec.fifo is reached through /proc/self/fd; is /proc mounted in the container?");
    }
    report_ready();
    wait_for_start();
    run_start_container_hooks();
    close_stray_fds();
    execve(g.exe, g.argv, g.envp);
    fail_after_ready("exec: \"%s\": %s", g.argv[0], errtext(errno));
}

/*   pyrunc-init PLANFD        the child set everything up and exec'd us for the last steps
 *   pyrunc-init join PLANFD   the child exec'd us before joining namespaces: do its part too */
int main(int argc, char **argv)
{
    g_stage = "init";
    if (argc >= 3 && strcmp(argv[1], "join") == 0) {
        load_plan(argv[2]);
        pyrunc_join_main(g.plan, g.plan_len);
        return 1;
    }
    if (argc < 2) {
        dprintf(2, "pyrunc-init is started by pyrunc, not by hand\n");
        return 2;
    }
    load_plan(argv[1]);
    if (argc >= 3) {
        pyrunc_fifo_dir = atoi(argv[2]); /* no mount namespace: see rootfs.c, chroot_into_rootfs */
        set_cloexec(pyrunc_fifo_dir, 1);
    }
    pyrunc_init_continue();
    return 1;
}
