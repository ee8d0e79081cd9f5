/*
 * bench/shim.c: a tiny stand-in for a container manager's shim, used by bench/run.
 *
 * It drives any runc-compatible runtime the way containerd's runc shim does: it is a child
 * subreaper, so the container's init is reparented to it when `create` exits, it reads the pid
 * file (no trailing newline), waits for the init to exit and reaps it. Being a static C program,
 * it adds well under a millisecond to what it measures, the same for every runtime.
 *
 *   shim lifecycle RT ROOT BUNDLE ID PIDFILE   create, start, wait for exit, delete
 *   shim created   RT ROOT BUNDLE ID PIDFILE   delete --force (quiet), create
 *   shim running   RT ROOT BUNDLE ID PIDFILE   delete --force (quiet), create, start
 *   shim stopped   RT ROOT BUNDLE ID PIDFILE   delete --force (quiet), create, start, wait for exit
 *   shim reset     RT ROOT ID                  delete --force, errors ignored
 *   shim batch     RT ROOT BUNDLE_PREFIX ID_PREFIX PIDDIR COUNT WORKERS
 *       COUNT lifecycles split over WORKERS processes; worker k uses bundle BUNDLE_PREFIX<k>,
 *       ids ID_PREFIX-<k>-<i> and pid files PIDDIR/<id>.pid.
 *
 * Exit status: 0 when every runtime command succeeded, 1 otherwise (the cause on stderr),
 * 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define EXIT_WAIT_TIMEOUT_MS 60000
#define MAX_WORKERS 64

struct runtime {
    const char *path;
    const char *root;
};

/* Reap every exited child without blocking (orphans reparented to us included). */
static void reap_exited(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* Run `RT --root ROOT verb args...`; returns its exit status (or 128+signal), -1 if it could
 * not be waited for. Orphans that exit meanwhile are reaped too. */
static int run_runtime(const struct runtime *rt, int quiet, const char *verb, const char *a1,
                       const char *a2, const char *a3, const char *a4, const char *a5)
{
    const char *argv[] = {rt->path, "--root", rt->root, verb, a1, a2, a3, a4, a5, NULL};
    pid_t pid = fork();
    if (pid < 0) {
        perror("shim: fork");
        return -1;
    }
    if (pid == 0) {
        if (quiet) {
            int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (null >= 0) {
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
            }
        }
        execvp(argv[0], (char **)argv);
        fprintf(stderr, "shim: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    for (;;) {
        int status;
        pid_t got = waitpid(-1, &status, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            perror("shim: waitpid");
            return -1;
        }
        if (got != pid)
            continue; /* an orphan, now reaped */
        if (WIFEXITED(status))
            return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
    }
}

static int check(int status, const char *verb, const char *id)
{
    if (status == 0)
        return 0;
    fprintf(stderr, "shim: %s %s failed (status %d)\n", verb, id, status);
    return -1;
}

/* The pid file holds a decimal pid, possibly without a newline. */
static pid_t read_pid_file(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "shim: open %s: %s\n", path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        fprintf(stderr, "shim: %s is empty\n", path);
        return -1;
    }
    buf[n] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    if (pid <= 0 || (*end != '\0' && *end != '\n')) {
        fprintf(stderr, "shim: %s does not hold a pid: '%s'\n", path, buf);
        return -1;
    }
    return (pid_t)pid;
}

/* A pidfd becomes readable when the process exits, whether or not it is our child. */
static int open_pidfd(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        fprintf(stderr, "shim: pidfd_open %d: %s\n", (int)pid, strerror(errno));
    return fd;
}

static int wait_exit(int pidfd, const char *id)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    for (;;) {
        int n = poll(&pfd, 1, EXIT_WAIT_TIMEOUT_MS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "shim: init of %s did not exit within %d ms\n", id,
                    EXIT_WAIT_TIMEOUT_MS);
            return -1;
        }
        reap_exited();
        return 0;
    }
}

/* delete --force, create, and optionally start and wait for the exit of a container. */
enum stage { CREATED, RUNNING, STOPPED };

static int prepare(const struct runtime *rt, const char *bundle, const char *id,
                   const char *pidfile, enum stage stage)
{
    run_runtime(rt, 1, "delete", "--force", id, NULL, NULL, NULL);
    if (check(run_runtime(rt, 0, "create", "--bundle", bundle, "--pid-file", pidfile, id),
              "create", id))
        return -1;
    if (stage == CREATED)
        return 0;
    pid_t init = read_pid_file(pidfile);
    int pidfd = init > 0 ? open_pidfd(init) : -1;
    if (pidfd < 0)
        return -1;
    int rc = check(run_runtime(rt, 0, "start", id, NULL, NULL, NULL, NULL), "start", id);
    if (rc == 0 && stage == STOPPED)
        rc = wait_exit(pidfd, id);
    close(pidfd);
    return rc;
}

static int lifecycle(const struct runtime *rt, const char *bundle, const char *id,
                     const char *pidfile)
{
    if (check(run_runtime(rt, 0, "create", "--bundle", bundle, "--pid-file", pidfile, id),
              "create", id))
        return -1;
    pid_t init = read_pid_file(pidfile);
    int pidfd = init > 0 ? open_pidfd(init) : -1;
    int rc = pidfd < 0 ? -1 : 0;
    if (rc == 0)
        rc = check(run_runtime(rt, 0, "start", id, NULL, NULL, NULL, NULL), "start", id);
    if (rc == 0)
        rc = wait_exit(pidfd, id);
    if (pidfd >= 0)
        close(pidfd);
    /* delete even after a failure, so a broken run does not leave the container behind */
    int deleted = rc == 0 ? run_runtime(rt, 0, "delete", id, NULL, NULL, NULL, NULL)
                          : run_runtime(rt, 0, "delete", "--force", id, NULL, NULL, NULL);
    reap_exited();
    if (check(deleted, "delete", id))
        return -1;
    return rc;
}

static int worker(const struct runtime *rt, const char *bundle_prefix, const char *id_prefix,
                  const char *piddir, int index, int count)
{
    char bundle[4096], id[256], pidfile[4096];
    snprintf(bundle, sizeof(bundle), "%s%d", bundle_prefix, index);
    for (int i = 0; i < count; i++) {
        snprintf(id, sizeof(id), "%s-%d-%d", id_prefix, index, i);
        snprintf(pidfile, sizeof(pidfile), "%s/%s.pid", piddir, id);
        if (lifecycle(rt, bundle, id, pidfile))
            return -1;
    }
    return 0;
}

static int batch(const struct runtime *rt, const char *bundle_prefix, const char *id_prefix,
                 const char *piddir, int count, int workers)
{
    pid_t pids[MAX_WORKERS];
    int failed = 0;
    int running = 0;
    for (int k = 0; k < workers; k++) {
        int share = count / workers + (k < count % workers ? 1 : 0);
        pid_t pid = fork();
        if (pid < 0) {
            perror("shim: fork");
            failed = 1;
            break;
        }
        if (pid == 0) {
            /* subreaping is not inherited: each worker adopts its own containers' inits */
            prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
            _exit(worker(rt, bundle_prefix, id_prefix, piddir, k, share) ? 1 : 0);
        }
        pids[running++] = pid;
    }
    while (running > 0) {
        int status;
        pid_t got = waitpid(-1, &status, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            perror("shim: waitpid");
            return -1;
        }
        for (int k = 0; k < running; k++) {
            if (pids[k] != got)
                continue; /* not a worker: an orphan, now reaped */
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                failed = 1;
            pids[k] = pids[--running];
            break;
        }
    }
    reap_exited();
    return failed ? -1 : 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: shim lifecycle|created|running|stopped RT ROOT BUNDLE ID PIDFILE\n"
                    "       shim reset RT ROOT ID\n"
                    "       shim batch RT ROOT BUNDLE_PREFIX ID_PREFIX PIDDIR COUNT WORKERS\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        perror("shim: PR_SET_CHILD_SUBREAPER");
        return 1;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "reset") == 0 && argc == 5) {
        struct runtime rt = {argv[2], argv[3]};
        run_runtime(&rt, 1, "delete", "--force", argv[4], NULL, NULL, NULL);
        reap_exited();
        return 0;
    }
    if (strcmp(mode, "batch") == 0 && argc == 9) {
        struct runtime rt = {argv[2], argv[3]};
        int count = atoi(argv[7]);
        int workers = atoi(argv[8]);
        if (count < 1 || workers < 1 || workers > count || workers > MAX_WORKERS)
            return usage();
        return batch(&rt, argv[4], argv[5], argv[6], count, workers) ? 1 : 0;
    }
    if (argc != 7)
        return usage();
    struct runtime rt = {argv[2], argv[3]};
    const char *bundle = argv[4], *id = argv[5], *pidfile = argv[6];
    int rc;
    if (strcmp(mode, "lifecycle") == 0)
        rc = lifecycle(&rt, bundle, id, pidfile);
    else if (strcmp(mode, "created") == 0)
        rc = prepare(&rt, bundle, id, pidfile, CREATED);
    else if (strcmp(mode, "running") == 0)
        rc = prepare(&rt, bundle, id, pidfile, RUNNING);
    else if (strcmp(mode, "stopped") == 0)
        rc = prepare(&rt, bundle, id, pidfile, STOPPED);
    else
        return usage();
    return rc ? 1 : 0;
}
