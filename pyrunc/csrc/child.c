/* The container's init, from clone() to the execve of the sealed init helper.
 *
 * Runs in a child forked from the Python process, so only C runs here: the plan was prepared in
 * Python (pyrunc/plan.py) and is read with the cursor helpers of common.c. Failures go back to
 * the parent over the sync socket as errno + message, and the child exits.
 *
 * This file holds the stages, the handshake with the parent and the namespaces; the child's other
 * parts are rootpath.c (paths inside the rootfs), rootfs.c (mounts, devices, protected paths,
 * pivot_root or chroot) and terminal.c (process.terminal), sharing child_internal.h.
 *
 * Order (runc's, with the rootfs work done before pivot_root through fds), as child_main and
 * init_main run it:
 *   namespaces: clone() straight into them, or (joins, a time namespace) stage_one joins through
 *   the init helper's "join" mode, unshares and forks the init -> uid/gid maps by the parent
 *   -> request_setup: the parent places the init in its cgroup while it goes on with
 *   prepare_rootfs: propagation, self-bind, bind sources opened, root in the user namespace, then
 *   mkdirs, mounts, devices, symlinks in the plan's order (finish_setup, which reads the ack and
 *   makes the cgroup namespace, comes before a cgroup mount or a device node, or after the rest)
 *   -> prestart/createRuntime hooks (parent) -> console -> createContainer hooks
 *   -> hostname, domainname, sysctl -> read-only and masked paths, late read-only remounts,
 *   root read-only -> rlimits, oom_score_adj -> pivot_root (or --no-pivot's move), then
 *   rootfsPropagation -> execve(init helper).
 * Without a mount namespace (T_CHROOT): placement first, the rootfs opened in place (only its
 * mkdirs), no protected paths, and chroot instead of pivot_root.
 * `exec` joins, then cgroup, console, limits.
 */
#include "child_internal.h"
#include "sysapi.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

int has_tag(const struct child *c, uint32_t tag)
{
    struct rec r;
    return plan_find(c->plan, c->plan_len, tag, &r) > 0;
}

static const char *plan_string(const struct child *c, uint32_t tag)
{
    struct rec r;
    struct cur cu;
    if (plan_find(c->plan, c->plan_len, tag, &r) <= 0)
        return NULL;
    cur_init(&cu, &r);
    return cur_str(&cu);
}

/* ---- namespaces and the parent handshake ------------------------------------------------ */

void become_root_in_userns(void)
{
    if (setresgid(0, 0, 0) < 0)
        die(errno, "setresgid(0) in the new user namespace (is 0 mapped?)");
    if (setresuid(0, 0, 0) < 0)
        die(errno, "setresuid(0) in the new user namespace (is 0 mapped?)");
}

/* The parent writes our uid/gid maps. We become root in the namespace only once the rootfs is
 * bound (see bind_rootfs_onto_itself). */
static void request_usermaps(struct child *c)
{
    char buf[16];
    /* Rootless: our /proc files belong to the host's root while we are not dumpable, and the
     * parent (an ordinary user) could not open uid_map, gid_map and setgroups. Dumpable only
     * until the maps are written: nothing of the container runs yet. */
    if (c->unprivileged)
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    if (sync_send(c->sync_fd, SYNC_USERMAP_REQ, 0, NULL, 0) < 0)
        _exit(1);
    sync_wait_ack(c->sync_fd, buf, sizeof(buf));
    if (c->unprivileged)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    c->userns = 1;
}

static const char *ns_name(uint32_t type)
{
    switch (type) {
    case CLONE_NEWUSER: return "user";
    case CLONE_NEWNS: return "mount";
    case CLONE_NEWPID: return "pid";
    case CLONE_NEWNET: return "network";
    case CLONE_NEWIPC: return "ipc";
    case CLONE_NEWUTS: return "uts";
    case CLONE_NEWCGROUP: return "cgroup";
    case CLONE_NEWTIME: return "time";
    default: return "unknown";
    }
}

/* Join the namespaces given by path. All are opened first: joining the mount namespace changes
 * how later paths resolve. The plan lists the user namespace first. */
static uint32_t join_namespaces(struct child *c)
{
    uint32_t joined = 0;
    struct { int fd; uint32_t type; const char *path; } joins[16];
    int n = 0, i;
    size_t off = 0;
    struct rec r;
    while (plan_next(c->plan, c->plan_len, &off, &r) > 0 && n < 16) {
        struct cur cu;
        if (r.tag != T_JOIN_NS)
            continue;
        cur_init(&cu, &r);
        joins[n].type = cur_u32(&cu);
        joins[n].path = cur_str(&cu);
        joins[n].fd = open(joins[n].path, O_RDONLY | O_CLOEXEC);
        if (joins[n].fd < 0)
            die(errno, "open %s namespace %s", ns_name(joins[n].type), joins[n].path);
        n++;
    }
    for (i = 0; i < n; i++) {
        if (setns(joins[i].fd, (int)joins[i].type) < 0)
            die(errno, "join %s namespace %s", ns_name(joins[i].type), joins[i].path);
        close(joins[i].fd);
        joined |= joins[i].type;
    }
    return joined;
}

static void write_time_offsets(struct child *c)
{
    const char *offsets = plan_string(c, T_TIME_OFFSETS);
    if (!offsets || !offsets[0])
        return;
    if (write_file("/proc/self/timens_offsets", offsets, strlen(offsets)) < 0)
        die(errno, "write time namespace offsets");
}

/* With namespaces to join (or a time namespace, which only children enter), the first child
 * joins and unshares, then forks the init so that it is born in the new pid and time namespaces. */
static void stage_one(struct child *c)
{
    uint64_t flags = c->clone_flags & ~(uint64_t)CLONE_NEWCGROUP;
    pid_t pid;
    int32_t init_pid;
    int reported[2];
    char byte;
    g_stage = "init (stage 1)";
    if (join_namespaces(c) & CLONE_NEWUSER)
        c->userns = 1;
    if (flags & CLONE_NEWUSER) {
        c->unprivileged = geteuid() != 0;
        if (unshare(CLONE_NEWUSER) < 0)
            die(errno, "create user namespace");
        request_usermaps(c);
    }
    if (unshare((int)(flags & ~(uint64_t)CLONE_NEWUSER)) < 0)
        die(errno, "create namespaces");
    if (flags & CLONE_NEWTIME)
        write_time_offsets(c);
    /* The init must not speak before we have told the parent its pid: both write to the same
     * socket, and the parent needs the pid to place the init in its cgroup. */
    if (pipe2(reported, O_CLOEXEC) < 0)
        die(errno, "pipe");
    pid = fork();
    if (pid < 0)
        die(errno, "fork the container's init");
    if (pid > 0) {
        init_pid = pid;
        sync_send(c->sync_fd, SYNC_INIT_PID, 0, &init_pid, sizeof(init_pid));
        _exit(0); /* closes the pipe: the init goes on */
    }
    close(reported[1]);
    while (read(reported[0], &byte, 1) < 0 && errno == EINTR)
        ;
    close(reported[0]);
}

/* Ask the parent to place us in the container's cgroups. The first migration into a cgroup can
 * wait for an RCU grace period in the kernel (5-26 ms on cgroup v1): the init goes on with what
 * does not depend on its cgroup (mounts) meanwhile, and reads the ack in finish_setup() before the
 * first step that does (a cgroup filesystem mount, a device node, hooks, the helper). */
static void request_setup(struct child *c)
{
    if (sync_send(c->sync_fd, SYNC_SETUP_REQ, 0, NULL, 0) < 0)
        _exit(1);
    c->setup_pending = 1;
}

void finish_setup(struct child *c)
{
    if (!c->setup_pending)
        return;
    c->setup_pending = 0;
    c->state_len = sync_wait_ack(c->sync_fd, c->state, sizeof(c->state));
    if (c->clone_flags & CLONE_NEWCGROUP)
        /* After the parent placed us in the container's cgroup, so that it becomes the root. */
        if (unshare(CLONE_NEWCGROUP) < 0)
            die(errno, "create cgroup namespace");
}

static void setup_with_parent(struct child *c)
{
    request_setup(c);
    finish_setup(c);
}

uint64_t plan_u64(const struct child *c, uint32_t tag, uint64_t dflt)
{
    struct rec r;
    struct cur cu;
    if (plan_find(c->plan, c->plan_len, tag, &r) <= 0)
        return dflt;
    cur_init(&cu, &r);
    return cur_u64(&cu);
}

static void run_create_container_hooks(struct child *c)
{
    char err[4096];
    size_t off = 0;
    int index = 0;
    struct rec r;
    /* The spec: in the container's namespaces, before pivot_root, cwd at the rootfs. */
    if (fchdir(c->rootfs_fd) < 0)
        die(errno, "chdir to the rootfs");
    while (plan_next(c->plan, c->plan_len, &off, &r) > 0) {
        if (r.tag != T_HOOK_CREATE_CONTAINER)
            continue;
        if (run_hook_record(&r, c->state, c->state_len, err, sizeof(err)) < 0)
            die_msg("createContainer hook #%d failed: %s", index, err);
        index++;
    }
}

static void set_names(struct child *c)
{
    const char *hostname = plan_string(c, T_HOSTNAME);
    const char *domainname = plan_string(c, T_DOMAINNAME);
    if (hostname && sethostname(hostname, strlen(hostname)) < 0)
        die(errno, "set hostname %s", hostname);
    if (domainname && setdomainname(domainname, strlen(domainname)) < 0)
        die(errno, "set domainname %s", domainname);
}

/* Sysctls resolve against the writer's namespaces, so the host's /proc/sys reaches the
 * container's values; the keys were checked to be namespaced when the config was validated. */
static void write_sysctls(struct child *c)
{
    size_t off = 0;
    struct rec r;
    while (plan_next(c->plan, c->plan_len, &off, &r) > 0) {
        struct cur cu;
        const char *path, *value;
        if (r.tag != T_SYSCTL)
            continue;
        cur_init(&cu, &r);
        path = cur_str(&cu);
        value = cur_str(&cu);
        if (write_file(path, value, strlen(value)) < 0)
            die(errno, "sysctl %s = %s", path + strlen("/proc/sys/"), value);
    }
}

static void set_limits(struct child *c)
{
    size_t off = 0;
    struct rec r;
    while (plan_next(c->plan, c->plan_len, &off, &r) > 0) {
        struct cur cu;
        cur_init(&cu, &r);
        if (r.tag == T_RLIMIT) {
            uint32_t resource = cur_u32(&cu);
            struct rlimit lim;
            const char *where;
            lim.rlim_cur = cur_u64(&cu);
            lim.rlim_max = cur_u64(&cu);
            where = cur_str(&cu); /* e.g. "process.rlimits[0] (RLIMIT_NOFILE)" */
            if (setrlimit((int)resource, &lim) < 0) {
                if (errno == EPERM)
                    die(errno, "%s: soft %llu hard %llu: raising a hard limit needs CAP_SYS_RESOURCE, "
                               "which this runtime lacks", where, (unsigned long long)lim.rlim_cur,
                        (unsigned long long)lim.rlim_max);
                die(errno, "%s", where);
            }
        } else if (r.tag == T_OOM_SCORE_ADJ) {
            char value[16];
            uint32_t adj = cur_u32(&cu);
            int len = snprintf(value, sizeof(value), "%d", (int32_t)adj);
            if (write_file("/proc/self/oom_score_adj", value, (size_t)len) < 0)
                die(errno, "set oom_score_adj to %d%s", (int32_t)adj,
                    (int32_t)adj < 0 && errno == EACCES ? " (lowering it needs CAP_SYS_RESOURCE)" : "");
        }
    }
}

/* The fds the helper needs must survive its execve: those the plan names. */
static int plan_fds(const struct child *c, int *keep, int max)
{
    struct rec r;
    size_t off = 0;
    int n = 0;
    if (plan_find(c->plan, c->plan_len, T_FDS, &r) > 0) {
        struct cur cu;
        cur_init(&cu, &r);
        for (int i = 0; i < 4 && n < max; i++) {
            int fd = (int)(int32_t)cur_u32(&cu);
            if (!cu.bad && fd >= 0)
                keep[n++] = fd;
        }
    }
    while (plan_next(c->plan, c->plan_len, &off, &r) > 0 && n < max) {
        struct mount_rec m;
        if (r.tag != T_MOUNT)
            continue;
        read_mount_rec(&r, &m);
        if (m.tree_fd >= 0)
            keep[n++] = m.tree_fd;
    }
    return n;
}

static uint32_t preserved_fds(const struct child *c)
{
    struct rec r;
    struct cur cu;
    if (plan_find(c->plan, c->plan_len, T_PRESERVE_FDS, &r) <= 0)
        return 0;
    cur_init(&cu, &r);
    return cur_u32(&cu);
}

/* Right after fork: close every fd the parent had that the child does not need. Above all the
 * parent's end of the sync socket (while we hold it, our reads never see EOF when the parent
 * dies) and the container's lock (which would keep it "creating" forever). */
static void close_inherited_fds(const struct child *c)
{
    int keep[72], n = plan_fds(c, keep, 64);
    if (c->helper_fd >= 0)
        keep[n++] = c->helper_fd;
    if (c->plan_fd >= 0)
        keep[n++] = c->plan_fd;
    if (c->sync_fd >= 0)
        keep[n++] = c->sync_fd;
    close_range_except(3 + (int)preserved_fds(c), keep, n, 0);
}

#ifdef PYRUNC_INIT
void pyrunc_init_continue(void); /* init.c: credentials, READY, exec.fifo, execve */

/* In the helper the setup ran in this very image: go on to the last steps. */
static void exec_helper(struct child *c)
{
    (void)c;
    pyrunc_init_continue();
    _exit(1);
}
#else
/* Exec the init helper: a sealed memfd copy of a small static program, so the process that later
 * calls execve() into the container is not the host's Python (CVE-2019-5736). `mode` "join": before
 * joining any namespace, so that a fork of the host's Python never enters someone else's
 * namespaces, where a process with CAP_SYS_PTRACE could reach its /proc/PID/exe (CVE-2019-5736 by
 * the back door; runc's joining process is a sealed copy too). */
static void exec_init_helper(struct child *c, const char *mode)
{
    char fdarg[16], dirarg[16];
    char *argv[4] = {"pyrunc-init", NULL, NULL, NULL};
    char *envp[] = {NULL};
    int keep[65], nkeep = plan_fds(c, keep, 64);
    argv[1] = mode ? (char *)mode : fdarg;
    argv[2] = mode ? fdarg : NULL;
    if (!mode && pyrunc_fifo_dir >= 0) {
        /* pyrunc-init PLANFD FIFODIR */
        snprintf(dirarg, sizeof(dirarg), "%d", pyrunc_fifo_dir);
        argv[2] = dirarg;
        keep[nkeep++] = pyrunc_fifo_dir;
    }
    for (int i = 0; i < nkeep; i++)
        set_cloexec(keep[i], 0);
    cloexec_from(3 + (int)preserved_fds(c), keep, nkeep);
    snprintf(fdarg, sizeof(fdarg), "%d", c->plan_fd);
    syscall(SYS_execveat, c->helper_fd, "", argv, envp, AT_EMPTY_PATH);
    die(errno, "exec the init helper%s", mode ? " to join the namespaces" : "");
}

static void exec_helper(struct child *c)
{
    exec_init_helper(c, NULL);
}

static void join_through_helper(struct child *c)
{
    exec_init_helper(c, "join");
}
#endif

static void init_main(struct child *c)
{
    g_stage = "init";
    int chrooted = has_tag(c, T_CHROOT);
    if (chrooted) {
        setup_with_parent(c); /* nothing to mount meanwhile */
        open_rootfs_in_place(c);
    } else {
        request_setup(c);
        prepare_rootfs(c);
        finish_setup(c);
    }
    if (has_tag(c, T_RUNTIME_HOOKS)) {
        char buf[16];
        if (sync_send(c->sync_fd, SYNC_HOOKS_REQ, 0, NULL, 0) < 0)
            _exit(1);
        sync_wait_ack(c->sync_fd, buf, sizeof(buf));
    }
    setup_console(c);
    /* As runc: the init leads a session of its own, with a terminal or without (CRIU refuses to
     * checkpoint a tree whose session leader is outside its pid namespace). */
    if (console_socket_fd(c) < 0 && setsid() < 0)
        die(errno, "setsid");
    run_create_container_hooks(c);
    set_names(c);
    write_sysctls(c);
    if (!chrooted)
        protect_paths(c);
    set_limits(c);
    if (chrooted)
        chroot_into_rootfs(c);
    else
        enter_rootfs(c);
    exec_helper(c);
}

/* `exec`: the namespaces were joined in stage one (we are in the container's pid namespace now,
 * and setns into its mount namespace made its root ours); only the cgroup, the terminal and the
 * limits remain before the helper. */
/* execCPUAffinity: which = 0 for `initial`, 1 for `final`; an absent one leaves the affinity. */
static void set_cpu_affinity(struct child *c, int which)
{
    struct rec r;
    struct cur cu;
    cpu_set_t set;
    uint32_t len = 0;
    if (plan_find(c->plan, c->plan_len, T_CPU_AFFINITY, &r) <= 0)
        return;
    cur_init(&cu, &r);
    for (int i = 0; i <= which; i++) {
        len = cur_u32(&cu);
        if (i < which)
            cu.p += len;
    }
    if (!len || len > sizeof(set) || cu.end - cu.p < (long)len)
        return;
    memset(&set, 0, sizeof(set));
    memcpy(&set, cu.p, len);
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        die(errno, "set process.execCPUAffinity.%s", which ? "final" : "initial");
}

/* A container without a mount namespace: no setns made its root ours, so take the init's root
 * (/proc/PID/root of the init, named by the plan). */
static void chroot_like_init(struct child *c)
{
    const char *root = plan_string(c, T_CHROOT);
    if (root && chroot(root) < 0)
        die(errno, "chroot into the container's root %s", root);
}

static void exec_main(struct child *c)
{
    g_stage = "exec";
    /* Joined a user namespace: our uid (host root) is not mapped there, and execve would drop
     * every capability; become its root first (the helper then switches to the process's user). */
    if (c->userns)
        become_root_in_userns();
    setup_with_parent(c);
    set_cpu_affinity(c, 1); /* in the container's cgroup now */
    chroot_like_init(c);
    c->rootfs_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfs_fd < 0)
        die(errno, "open the container's root");
    setup_console(c);
    set_limits(c);
    close(c->rootfs_fd);
    c->rootfs_fd = -1;
    if (chdir("/") < 0)
        die(errno, "chdir /");
    exec_helper(c);
}

static void child_main(struct child *c, int direct)
{
    reset_signals();
    umask(0);
    g_sync_fd = c->sync_fd;
    close_inherited_fds(c);
    /* Not dumpable: nothing in the container may ptrace us or open our /proc files
     * (CVE-2016-9962); execve of the helper resets it only once we are its image. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#ifndef PYRUNC_INIT
    if (!direct)
        join_through_helper(c);
#endif
    if (direct) {
        if (c->clone_flags & CLONE_NEWUSER)
            request_usermaps(c);
    } else {
        if (has_tag(c, T_EXEC))
            set_cpu_affinity(c, 0); /* before the transition to the container's cgroup */
        stage_one(c);
    }
    if (has_tag(c, T_EXEC))
        exec_main(c);
    init_main(c);
    _exit(1);
}

#ifdef PYRUNC_INIT
/* pyrunc-init join PLANFD: the forked child exec'd us before joining anything; run the child's
 * setup here (join, fork into the pid namespace, rootfs or exec work), then the last steps. */
void pyrunc_join_main(const char *plan, size_t plan_len)
{
    static struct child c;
    struct rec r;
    memset(&c, 0, sizeof(c));
    c.plan = plan;
    c.plan_len = plan_len;
    c.helper_fd = -1;
    c.plan_fd = -1;
    c.rootfs_fd = -1;
    if (plan_find(plan, plan_len, T_FDS, &r) > 0) {
        struct cur cu;
        cur_init(&cu, &r);
        c.sync_fd = (int)(int32_t)cur_u32(&cu);
    }
    c.clone_flags = plan_u64(&c, T_CLONE_FLAGS, 0);
    c.rootfs = plan_string(&c, T_ROOTFS);
    if (!c.rootfs)
        c.rootfs = "/";
    child_main(&c, 0);
    _exit(1);
}
#else
/* An idmapped bind, prepared in the parent (runtime-spec 1.2 idmap/ridmap): a detached clone of
 * the source, idmapped to `userns_fd`, with the bind's flags as attributes. Idmapping needs
 * CAP_SYS_ADMIN in the initial user namespace, which the child no longer has once it is root of the
 * container's; the child only attaches the tree (move_mount). Returns the tree's fd or -1. */
int pyrunc_idmapped_tree(const char *source, int userns_fd, int recursive, int recursive_idmap,
                         uint64_t attr_set, uint64_t attr_clr)
{
    struct p_mount_attr attr;
    int tree = sys_open_tree(AT_FDCWD, source,
                             P_OPEN_TREE_CLONE | P_OPEN_TREE_CLOEXEC | (recursive ? P_AT_RECURSIVE : 0));
    if (tree < 0)
        return -1;
    memset(&attr, 0, sizeof(attr));
    attr.attr_set = P_MOUNT_ATTR_IDMAP | attr_set;
    attr.attr_clr = attr_clr;
    attr.userns_fd = (uint64_t)userns_fd;
    if (sys_mount_setattr(tree, "", P_AT_EMPTY_PATH | (recursive_idmap ? P_AT_RECURSIVE : 0), &attr) < 0) {
        int saved = errno;
        close(tree);
        errno = saved;
        return -1;
    }
    return tree;
}

/* A user namespace with the given maps, as an fd (for idmapped mounts): a short-lived child
 * unshares it, the maps are written, the namespace is kept open and the child killed. */
int pyrunc_userns_fd(const char *uid_map, const char *gid_map)
{
    char path[64];
    int ready[2], hold[2], fd = -1, saved = 0;
    char byte = 0;
    pid_t pid;
    if (pipe2(ready, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(hold, O_CLOEXEC) < 0) {
        close(ready[0]);
        close(ready[1]);
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        saved = errno;
        goto out;
    }
    if (pid == 0) {
        close(ready[0]);
        close(hold[1]);
        if (unshare(CLONE_NEWUSER) < 0)
            _exit(1);
        (void)!write(ready[1], "x", 1);
        (void)!read(hold[0], &byte, 1); /* until the parent is done */
        _exit(0);
    }
    close(ready[1]);
    ready[1] = -1;
    if (read(ready[0], &byte, 1) != 1) {
        saved = EPERM;
        goto reap;
    }
    snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
    if (write_file(path, uid_map, strlen(uid_map)) < 0) {
        saved = errno;
        goto reap;
    }
    snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
    if (write_file(path, gid_map, strlen(gid_map)) < 0) {
        saved = errno;
        goto reap;
    }
    snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        saved = errno;
reap:
    close(hold[1]);
    hold[1] = -1;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
out:
    if (ready[1] >= 0)
        close(ready[1]);
    close(ready[0]);
    if (hold[1] >= 0)
        close(hold[1]);
    close(hold[0]);
    errno = saved;
    return fd;
}

/* Start the child: with `clone_flags` (direct) or as fork() does. With a cgroup v2 directory fd,
 * clone3(CLONE_INTO_CGROUP) has the child born in that cgroup: no migration later, whose first
 * cgroup.procs write waits for an RCU grace period. Where the kernel has no clone3 or no
 * CLONE_INTO_CGROUP (ENOSYS, E2BIG, EINVAL before 5.7), or refuses this cgroup, the child starts
 * where we are and *placed stays 0: the parent migrates it, and reports what is wrong then. */
static pid_t clone_child(uint64_t clone_flags, int direct, int cgroup_fd, int *placed)
{
    if (cgroup_fd >= 0) {
        struct p_clone_args args;
        pid_t pid;
        memset(&args, 0, sizeof(args));
        args.flags = clone_flags | P_CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = (uint64_t)cgroup_fd;
        pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
        if (pid >= 0) {
            *placed = 1;
            return pid;
        }
    }
    if (direct)
        return (pid_t)syscall(SYS_clone, (unsigned long)clone_flags | SIGCHLD, NULL, NULL, NULL, NULL);
    return fork();
}

pid_t pyrunc_spawn(const char *plan, size_t plan_len, int sync_fd, int plan_fd, int helper_fd,
                   uint64_t clone_flags, int direct, int cgroup_fd, int *placed)
{
    static struct child c; /* static: the child's copy is what matters, not the stack */
    const char *rootfs;
    pid_t pid;
    memset(&c, 0, sizeof(c));
    c.plan = plan;
    c.plan_len = plan_len;
    c.sync_fd = sync_fd;
    c.plan_fd = plan_fd;
    c.helper_fd = helper_fd;
    c.rootfs_fd = -1;
    c.clone_flags = clone_flags;
    rootfs = plan_string(&c, T_ROOTFS);
    if (!rootfs && !has_tag(&c, T_EXEC)) {
        errno = EINVAL;
        return -1;
    }
    c.rootfs = rootfs ? rootfs : "/";
    c.unprivileged = geteuid() != 0;
    *placed = 0;
    /* The cgroup namespace comes later, once the parent has moved us into the cgroup. */
    pid = clone_child(direct ? clone_flags & ~(uint64_t)CLONE_NEWCGROUP : 0, direct, cgroup_fd, placed);
    if (pid != 0)
        return pid;
    /* Until the helper reports READY: die with the runtime (its sync socket EOF covers the
     * processes forked later, whose parent is not the runtime). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    child_main(&c, direct);
    _exit(1);
}
#endif
