/*
 * cfcheck: the in-container probe of the pyrunc conformance suite.
 *
 * Built static (musl-gcc -static, or gcc -static) by the suite and copied into
 * every bundle's rootfs as /cfcheck.  It reports what the kernel applied to the
 * process it runs as, one "key=value" line per fact, so the suite can compare it
 * with what config.json asked for.  It never decides pass or fail itself.
 *
 *   cfcheck CMD [ARG...] [-- CMD [ARG...]]...
 *
 * Commands:
 *   id                 uids, gids, groups, umask, cwd, pids, no_new_privs, caps,
 *                      hostname, domainname, oom_score_adj, seccomp mode, ttys
 *   argv [-- ...]      print argv (consumes the rest of the line)
 *   env                print the environment
 *   rlimits            every rlimit as soft:hard
 *   stat PATH          lstat: type:mode:uid:gid:major:minor or err:ERRNO
 *   write PATH         create/truncate PATH and write a byte: ok or err:ERRNO
 *   mkdir PATH         mkdir PATH: ok or err:ERRNO
 *   open PATH r|w      open PATH: ok or err:ERRNO
 *   read PATH          read PATH: ok:NBYTES or err:ERRNO
 *   cat PATH           every line of PATH as cat=LINE
 *   ls PATH            names in directory PATH (sorted) or err:ERRNO
 *   statfs PATH        mount flags of the filesystem holding PATH
 *   chmod PATH MODE    chmod PATH to MODE (octal): ok or err:ERRNO
 *   chown PATH UID GID chown PATH: ok or err:ERRNO
 *   utimes PATH        set PATH's times to now: ok or err:ERRNO
 *   newfs              in new user, mount, pid and network namespaces (no capability needed),
 *                      mount a fresh proc on /proc and sysfs on /sys: newfs:proc= and
 *                      newfs:sysfs= ok or err:ERRNO (newfs:userns=err:ERRNO if none could be made)
 *   socket inet|unix   socket(): ok or err:ERRNO
 *   getppid            raw getppid syscall: ok or err:ERRNO (a seccomp target)
 *   forks N            try N forks, report how many succeeded
 *   exit N             exit with status N
 *   pause              block until killed
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void out(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out(const char *key, const char *fmt, ...)
{
    va_list ap;
    printf("%s=", key);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void keyed(const char *cmd, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void keyed(const char *cmd, const char *path, const char *fmt, ...)
{
    va_list ap;
    printf("%s:%s=", cmd, path);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void status_field(const char *name, const char *key)
{
    char line[512];
    size_t n = strlen(name);
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) {
        out(key, "err:%d", errno);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            char *v = line + n + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = 0;
            out(key, "%s", v);
            fclose(f);
            return;
        }
    }
    fclose(f);
    out(key, "absent");
}

static void file_first_line(const char *path, const char *key)
{
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    if (!f) {
        out(key, "err:%d", errno);
        return;
    }
    if (!fgets(buf, sizeof buf, f))
        buf[0] = 0;
    buf[strcspn(buf, "\n")] = 0;
    fclose(f);
    out(key, "%s", buf);
}

static void cmd_id(void)
{
    uid_t r, e, s;
    gid_t rg, eg, sg;
    gid_t groups[256];
    char cwd[4096];
    struct utsname u;
    int n, i;
    mode_t mask = umask(0);
    umask(mask);

    getresuid(&r, &e, &s);
    getresgid(&rg, &eg, &sg);
    out("uid", "%u", r);
    out("euid", "%u", e);
    out("suid", "%u", s);
    out("gid", "%u", rg);
    out("egid", "%u", eg);
    out("sgid", "%u", sg);
    n = getgroups(256, groups);
    printf("groups=");
    for (i = 0; i < n; i++)
        printf(i ? ",%u" : "%u", groups[i]);
    putchar('\n');
    out("umask", "%04o", mask);
    out("cwd", "%s", getcwd(cwd, sizeof cwd) ? cwd : "?");
    out("pid", "%d", getpid());
    out("ppid", "%d", getppid());
    out("nnp", "%d", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    if (uname(&u) == 0) {
        out("hostname", "%s", u.nodename);
        out("domainname", "%s", u.domainname);
    }
    status_field("CapInh", "cap_inh");
    status_field("CapPrm", "cap_prm");
    status_field("CapEff", "cap_eff");
    status_field("CapBnd", "cap_bnd");
    status_field("CapAmb", "cap_amb");
    status_field("Seccomp", "seccomp");
    status_field("NoNewPrivs", "status_nnp");
    file_first_line("/proc/self/oom_score_adj", "oom_score_adj");
    for (i = 0; i < 3; i++) {
        char key[16], *name;
        snprintf(key, sizeof key, "tty%d", i);
        name = isatty(i) ? ttyname(i) : NULL;
        out(key, "%s", isatty(i) ? (name ? name : "yes") : "no");
    }
    {
        struct winsize ws;
        if (ioctl(0, TIOCGWINSZ, &ws) == 0)
            out("winsize", "%ux%u", ws.ws_row, ws.ws_col);
        else
            out("winsize", "err:%d", errno);
    }
}

static const struct {
    const char *name;
    int res;
} rlimits[] = {
    {"AS", RLIMIT_AS},
    {"CORE", RLIMIT_CORE},
    {"CPU", RLIMIT_CPU},
    {"DATA", RLIMIT_DATA},
    {"FSIZE", RLIMIT_FSIZE},
    {"LOCKS", RLIMIT_LOCKS},
    {"MEMLOCK", RLIMIT_MEMLOCK},
    {"MSGQUEUE", RLIMIT_MSGQUEUE},
    {"NICE", RLIMIT_NICE},
    {"NOFILE", RLIMIT_NOFILE},
    {"NPROC", RLIMIT_NPROC},
    {"RSS", RLIMIT_RSS},
    {"RTPRIO", RLIMIT_RTPRIO},
    {"RTTIME", RLIMIT_RTTIME},
    {"SIGPENDING", RLIMIT_SIGPENDING},
    {"STACK", RLIMIT_STACK},
};

static void print_limit(rlim_t v)
{
    if (v == RLIM_INFINITY)
        printf("unlimited");
    else
        printf("%llu", (unsigned long long)v);
}

static void cmd_rlimits(void)
{
    size_t i;
    for (i = 0; i < sizeof rlimits / sizeof rlimits[0]; i++) {
        struct rlimit rl;
        if (getrlimit(rlimits[i].res, &rl) != 0)
            continue;
        printf("rlimit.%s=", rlimits[i].name);
        print_limit(rl.rlim_cur);
        putchar(':');
        print_limit(rl.rlim_max);
        putchar('\n');
    }
    fflush(stdout);
}

static char type_char(mode_t m)
{
    if (S_ISCHR(m)) return 'c';
    if (S_ISBLK(m)) return 'b';
    if (S_ISFIFO(m)) return 'p';
    if (S_ISDIR(m)) return 'd';
    if (S_ISLNK(m)) return 'l';
    if (S_ISSOCK(m)) return 's';
    return 'f';
}

static void cmd_stat(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        keyed("stat", path, "err:%d", errno);
        return;
    }
    keyed("stat", path, "%c:%04o:%u:%u:%u:%u", type_char(st.st_mode), st.st_mode & 07777, st.st_uid,
          st.st_gid, major(st.st_rdev), minor(st.st_rdev));
}

static void cmd_write(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "x", 1) != 1) {
        keyed("write", path, "err:%d", errno);
        if (fd >= 0)
            close(fd);
        return;
    }
    close(fd);
    keyed("write", path, "ok");
}

static void cmd_mkdir(const char *path)
{
    if (mkdir(path, 0755) != 0)
        keyed("mkdir", path, "err:%d", errno);
    else
        keyed("mkdir", path, "ok");
}

static void cmd_open(const char *path, const char *mode)
{
    int flags = strcmp(mode, "w") == 0 ? O_WRONLY : strcmp(mode, "rw") == 0 ? O_RDWR : O_RDONLY;
    int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        keyed("open", path, "err:%d", errno);
        return;
    }
    close(fd);
    keyed("open", path, "ok");
}

static void cmd_read(const char *path)
{
    char buf[4096];
    long total = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        keyed("read", path, "err:%d", errno);
        return;
    }
    while ((n = read(fd, buf, sizeof buf)) > 0 && total < (1 << 20))
        total += n;
    if (n < 0) {
        keyed("read", path, "err:%d", errno);
        close(fd);
        return;
    }
    close(fd);
    keyed("read", path, "ok:%ld", total);
}

static void cmd_cat(const char *path)
{
    char line[4096];
    FILE *f = fopen(path, "r");
    if (!f) {
        keyed("cat", path, "err:%d", errno);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        keyed("cat", path, "%s", line);
    }
    fclose(f);
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void cmd_ls(const char *path)
{
    char *names[1024];
    int n = 0, i;
    struct dirent *d;
    DIR *dir = opendir(path);
    if (!dir) {
        keyed("ls", path, "err:%d", errno);
        return;
    }
    while ((d = readdir(dir)) && n < 1024) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        names[n++] = strdup(d->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof names[0], cmpstr);
    printf("ls:%s=", path);
    for (i = 0; i < n; i++) {
        printf(i ? ",%s" : "%s", names[i]);
        free(names[i]);
    }
    putchar('\n');
    fflush(stdout);
}

static void cmd_statfs(const char *path)
{
    struct statvfs s;
    if (statvfs(path, &s) != 0) {
        keyed("statfs", path, "err:%d", errno);
        return;
    }
    keyed("statfs", path, "%s%s%s%s", (s.f_flag & ST_RDONLY) ? "ro," : "rw,",
          (s.f_flag & ST_NOSUID) ? "nosuid," : "", (s.f_flag & ST_NODEV) ? "nodev," : "",
          (s.f_flag & ST_NOEXEC) ? "noexec," : "");
}

static void result(const char *cmd, const char *arg, int rc)
{
    if (rc < 0)
        keyed(cmd, arg, "err:%d", errno);
    else
        keyed(cmd, arg, "ok");
}

static void cmd_newfs(void)
{
    pid_t pid;
    int status;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET) < 0) {
        keyed("newfs", "userns", "err:%d", errno);
        return;
    }
    pid = fork(); /* the new pid namespace's first process: proc is mounted from inside it */
    if (pid == 0) {
        result("newfs", "proc", mount("proc", "/proc", "proc", 0, NULL));
        result("newfs", "sysfs", mount("sysfs", "/sys", "sysfs", 0, NULL));
        _exit(0);
    }
    if (pid < 0)
        keyed("newfs", "fork", "err:%d", errno);
    else
        waitpid(pid, &status, 0);
}

static void cmd_socket(const char *family)
{
    int dom = strcmp(family, "inet") == 0 ? AF_INET : AF_UNIX;
    int fd = socket(dom, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        keyed("socket", family, "err:%d", errno);
        return;
    }
    close(fd);
    keyed("socket", family, "ok");
}

static void cmd_forks(int want)
{
    pid_t kids[4096];
    int got = 0, err = 0, i;
    if (want > 4096)
        want = 4096;
    for (i = 0; i < want; i++) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0) {
            err = errno;
            break;
        }
        kids[got++] = p;
    }
    for (i = 0; i < got; i++)
        kill(kids[i], SIGKILL);
    for (i = 0; i < got; i++)
        waitpid(kids[i], NULL, 0);
    out("forks", "%d", got);
    out("forks_errno", "%d", err);
}

int main(int argc, char **argv)
{
    int i = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (i < argc) {
        const char *cmd = argv[i++];
        const char *a1 = i < argc ? argv[i] : "";
        const char *a2 = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(cmd, "--") == 0)
            continue;
        if (strcmp(cmd, "id") == 0) {
            cmd_id();
        } else if (strcmp(cmd, "argv") == 0) {
            int k;
            out("argc", "%d", argc);
            for (k = 0; k < argc; k++) {
                char key[32];
                snprintf(key, sizeof key, "argv.%d", k);
                out(key, "%s", argv[k]);
            }
            i = argc;
        } else if (strcmp(cmd, "env") == 0) {
            extern char **environ;
            char **e;
            for (e = environ; *e; e++)
                out("env", "%s", *e);
        } else if (strcmp(cmd, "rlimits") == 0) {
            cmd_rlimits();
        } else if (strcmp(cmd, "stat") == 0) {
            cmd_stat(a1), i++;
        } else if (strcmp(cmd, "write") == 0) {
            cmd_write(a1), i++;
        } else if (strcmp(cmd, "mkdir") == 0) {
            cmd_mkdir(a1), i++;
        } else if (strcmp(cmd, "open") == 0) {
            cmd_open(a1, a2), i += 2;
        } else if (strcmp(cmd, "read") == 0) {
            cmd_read(a1), i++;
        } else if (strcmp(cmd, "cat") == 0) {
            cmd_cat(a1), i++;
        } else if (strcmp(cmd, "ls") == 0) {
            cmd_ls(a1), i++;
        } else if (strcmp(cmd, "statfs") == 0) {
            cmd_statfs(a1), i++;
        } else if (strcmp(cmd, "chmod") == 0) {
            result("chmod", a1, chmod(a1, (mode_t)strtoul(a2, NULL, 8))), i += 2;
        } else if (strcmp(cmd, "chown") == 0) {
            const char *a3 = i + 2 < argc ? argv[i + 2] : "";
            result("chown", a1, chown(a1, (uid_t)atol(a2), (gid_t)atol(a3))), i += 3;
        } else if (strcmp(cmd, "utimes") == 0) {
            result("utimes", a1, utimensat(AT_FDCWD, a1, NULL, 0)), i++;
        } else if (strcmp(cmd, "newfs") == 0) {
            cmd_newfs();
        } else if (strcmp(cmd, "socket") == 0) {
            cmd_socket(a1), i++;
        } else if (strcmp(cmd, "getppid") == 0) {
            long r = syscall(SYS_getppid);
            if (r < 0)
                out("getppid", "err:%d", errno);
            else
                out("getppid", "ok");
        } else if (strcmp(cmd, "forks") == 0) {
            cmd_forks(atoi(a1)), i++;
        } else if (strcmp(cmd, "exit") == 0) {
            exit(atoi(a1));
        } else if (strcmp(cmd, "pause") == 0) {
            for (;;)
                pause();
        } else {
            fprintf(stderr, "cfcheck: unknown command %s\n", cmd);
            return 2;
        }
    }
    return 0;
}
