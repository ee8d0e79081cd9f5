/* OCI hooks: run a program with the container's state JSON on its stdin, collect its stdout and
 * stderr for the error message, and kill it when its timeout passes.
 * One implementation for every hook point: the child runs createContainer, the init helper runs
 * startContainer, and Python calls it through pyrunc._core for the rest. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOOK_OUTPUT_MAX 2048

struct capture {
    char buf[HOOK_OUTPUT_MAX];
    size_t len;
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void exec_hook_child(const char *path, char *const argv[], char *const envp[], int in, int out, int err)
{
    char msg[512];
    int n;
    reset_signals();
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        _exit(127);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    execve(path, argv, envp);
    n = snprintf(msg, sizeof(msg), "exec %s: %s", path, errtext(errno));
    if (n > 0)
        (void)!write(2, msg, (size_t)n);
    _exit(127);
}

static void drain(int fd, struct capture *cap, int *open_flag)
{
    char tmp[1024];
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN))
            *open_flag = 0;
        return;
    }
    if (cap->len < sizeof(cap->buf) - 1) {
        size_t room = sizeof(cap->buf) - 1 - cap->len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(cap->buf + cap->len, tmp, take);
        cap->len += take;
    }
    cap->buf[cap->len] = '\0';
}

static void trim_newlines(struct capture *cap)
{
    while (cap->len && (cap->buf[cap->len - 1] == '\n' || cap->buf[cap->len - 1] == '\r'))
        cap->buf[--cap->len] = '\0';
}

static void describe_status(int status, int timed_out, unsigned timeout, struct capture *out,
                            struct capture *errc, char *err, size_t errlen)
{
    char what[128];
    if (timed_out)
        snprintf(what, sizeof(what), "timed out after %us", timeout);
    else if (WIFEXITED(status))
        snprintf(what, sizeof(what), "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(what, sizeof(what), "killed by signal %d", WTERMSIG(status));
    else
        snprintf(what, sizeof(what), "status %d", status);
    trim_newlines(out);
    trim_newlines(errc);
    snprintf(err, errlen, "%s%s%s%s%s", what, out->len ? ", stdout: " : "", out->buf,
             errc->len ? ", stderr: " : "", errc->buf);
}

int run_hook(const char *path, char *const argv[], char *const envp[], unsigned timeout,
             const char *state, size_t state_len, char *err, size_t errlen)
{
    int in[2], out[2], errp[2];
    struct capture cap_out = {{0}, 0}, cap_err = {{0}, 0};
    int out_open = 1, err_open = 1, status = 0, timed_out = 0, pidfd;
    size_t written = 0;
    long deadline = timeout ? now_ms() + (long)timeout * 1000L : 0;
    pid_t pid;

    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", errtext(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", errtext(errno));
        return -1;
    }
    if (pid == 0)
        exec_hook_child(path, argv, envp, in[0], out[1], errp[1]);
    close(in[0]);
    close(out[1]);
    close(errp[1]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

    for (;;) {
        struct pollfd fds[4];
        int nfds = 0, wait_ms = 50, done = 0;
        if (written < state_len && in[1] >= 0)
            fds[nfds++] = (struct pollfd){in[1], POLLOUT, 0};
        if (out_open)
            fds[nfds++] = (struct pollfd){out[0], POLLIN, 0};
        if (err_open)
            fds[nfds++] = (struct pollfd){errp[0], POLLIN, 0};
        if (pidfd >= 0)
            fds[nfds++] = (struct pollfd){pidfd, POLLIN, 0};
        if (written >= state_len && in[1] >= 0) {
            close(in[1]); /* EOF on the hook's stdin once the state is written */
            in[1] = -1;
        }
        if (pidfd >= 0)
            wait_ms = -1;
        if (deadline) {
            long left = deadline - now_ms();
            if (left <= 0) {
                kill(pid, SIGKILL);
                timed_out = 1;
                deadline = 0;
                continue;
            }
            if (wait_ms < 0 || left < wait_ms)
                wait_ms = (int)left;
        }
        if (poll(fds, (nfds_t)nfds, wait_ms) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < nfds; i++) {
            if (!fds[i].revents)
                continue;
            if (fds[i].fd == in[1]) {
                ssize_t n = write(in[1], state + written, state_len - written);
                if (n > 0)
                    written += (size_t)n;
                else if (n < 0 && errno != EAGAIN && errno != EINTR)
                    written = state_len; /* the hook closed its stdin: fine */
            } else if (fds[i].fd == out[0]) {
                drain(out[0], &cap_out, &out_open);
            } else if (fds[i].fd == errp[0]) {
                drain(errp[0], &cap_err, &err_open);
            } else if (fds[i].fd == pidfd) {
                done = 1;
            }
        }
        if (pidfd < 0 && waitpid(pid, &status, WNOHANG) == pid)
            goto reaped;
        if (done) {
            /* Exited: collect what is left in the pipes without waiting for grandchildren. */
            drain(out[0], &cap_out, &out_open);
            drain(errp[0], &cap_err, &err_open);
            break;
        }
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
reaped:
    if (in[1] >= 0)
        close(in[1]);
    close(out[0]);
    close(errp[0]);
    if (pidfd >= 0)
        close(pidfd);
    if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    describe_status(status, timed_out, timeout, &cap_out, &cap_err, err, errlen);
    return -1;
}

/* Record layout: u32 timeout, u32 argc, u32 envc, path, argv..., envp... */
int run_hook_record(const struct rec *r, const char *state, size_t state_len, char *err, size_t errlen)
{
    struct cur c;
    char *argv[256], *envp[1024];
    uint32_t timeout, argc, envc, i;
    const char *path;
    cur_init(&c, r);
    timeout = cur_u32(&c);
    argc = cur_u32(&c);
    envc = cur_u32(&c);
    path = cur_str(&c);
    if (argc > 255 || envc > 1023) {
        snprintf(err, errlen, "too many arguments or environment variables");
        return -1;
    }
    for (i = 0; i < argc; i++)
        argv[i] = (char *)cur_str(&c);
    argv[argc] = NULL;
    for (i = 0; i < envc; i++)
        envp[i] = (char *)cur_str(&c);
    envp[envc] = NULL;
    if (c.bad) {
        snprintf(err, errlen, "malformed hook record");
        return -1;
    }
    if (argc == 0) {
        argv[0] = (char *)path;
        argv[1] = NULL;
    }
    return run_hook(path, argv, envp, timeout, state, state_len, err, errlen);
}
