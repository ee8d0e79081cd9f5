/* The container's init, from clone() to the execve of the sealed init helper.
 *
 * Runs in a child forked from the Python process, so only C runs here: the plan was prepared in
 * Python (pyrunc/plan.py) and is read with the cursor helpers of common.c. Failures go back to
 * the parent over the sync socket as errno + message, and the child exits.
 *
 * Order (runc's, with the rootfs work done before pivot_root through fds), as child_main and
 * init_main run it:
 *   namespaces: clone() straight into them, or (joins, a time namespace) stage_one joins through
 *   the init helper's "join" mode, unshares and forks the init -> uid/gid maps by the parent
 *   -> setup_with_parent: cgroup placement by the parent, then the cgroup namespace
 *   -> prepare_rootfs: propagation, self-bind, mkdirs, mounts, devices, symlinks
 *   -> prestart/createRuntime hooks (parent) -> console -> createContainer hooks
 *   -> hostname, domainname, sysctl -> read-only and masked paths, late read-only remounts,
 *   root read-only -> oom_score_adj, rlimits -> pivot_root (or --no-pivot's move), then
 *   rootfsPropagation -> execve(init helper). `exec` joins, then cgroup, console, limits.
 *
 * Every path under the rootfs is resolved with openat2(RESOLVE_IN_ROOT), so a symlink in the rootfs
 * can never lead outside it, and every mount targets the resolved fd through /proc/self/fd
 * (CVE-2021-30465, CVE-2024-45310).
 */
#include "child.h"
#include "sysapi.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <termios.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

enum { MOUNT_REGULAR = 0, MOUNT_BIND = 1, MOUNT_REMOUNT = 2, MOUNT_REMOUNT_LATE = 3 };
enum { DEST_DIR = 0, DEST_FILE = 1 };

struct child {
    const char *plan;
    size_t plan_len;
    int sync_fd;
    int helper_fd;
    int plan_fd;
    int rootfs_fd;
    const char *rootfs;
    uint64_t clone_flags;
    int userns; /* in a user namespace (new or joined): become its root after binding the rootfs */
    int unprivileged; /* made its user namespace as a non-root user (rootless) */
    int bind_sources[512]; /* O_PATH fds of bind sources, by mount record number (-1: none) */
    int nmounts;
    char state[SYNC_MAX_PAYLOAD + 1]; /* the state JSON for createContainer hooks */
    size_t state_len;
    int setup_pending; /* SETUP_REQ sent, its ack not read yet (see request_setup) */
};

static int has_tag(const struct child *c, uint32_t tag)
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

/* ---- path resolution inside the rootfs -------------------------------------------------- */

static int open_in_root(int rootfd, const char *rel, uint64_t flags)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    if (rel[0] == '\0')
        rel = ".";
    return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
}

/* Split "a/b/c" into parent "a/b" and base "c" (copies into the caller's buffers). */
static void split_path(const char *rel, char *parent, size_t plen, char *base, size_t blen)
{
    const char *slash = strrchr(rel, '/');
    if (!slash) {
        snprintf(parent, plen, "%s", "");
        snprintf(base, blen, "%s", rel);
        return;
    }
    snprintf(parent, plen, "%.*s", (int)(slash - rel), rel);
    snprintf(base, blen, "%s", slash + 1);
}

/* mkdir -p of `rel` inside the root; returns an O_PATH fd of the directory. Each component is
 * created in the directory that the safe resolution of its parent gave. */
static int mkdirs_in_root(int rootfd, const char *rel, mode_t mode)
{
    char prefix[PATH_MAX];
    size_t len = strlen(rel), i;
    int fd;
    if (len >= sizeof(prefix))
        die(ENAMETOOLONG, "path %s", rel);
    fd = open_in_root(rootfd, rel, O_PATH | O_DIRECTORY);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    for (i = 0; i <= len; i++) {
        if (rel[i] != '/' && rel[i] != '\0')
            continue;
        if (i == 0)
            continue;
        memcpy(prefix, rel, i);
        prefix[i] = '\0';
        fd = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY);
        if (fd >= 0) {
            close(fd);
            continue;
        }
        if (errno != ENOENT)
            return -1;
        {
            char parent[PATH_MAX], base[PATH_MAX];
            int pfd;
            split_path(prefix, parent, sizeof(parent), base, sizeof(base));
            pfd = open_in_root(rootfd, parent, O_PATH | O_DIRECTORY);
            if (pfd < 0)
                return -1;
            if (mkdirat(pfd, base, mode) < 0 && errno != EEXIST) {
                int saved = errno;
                close(pfd);
                errno = saved;
                return -1;
            }
            close(pfd);
        }
    }
    return open_in_root(rootfd, rel, O_PATH | O_DIRECTORY);
}

static void append_component(char *path, size_t len, const char *comp)
{
    size_t used = strlen(path);
    snprintf(path + used, len - used, "%s%s", used ? "/" : "", comp);
}

/* Follow the symlinks of `rel` inside the rootfs as the kernel would with the rootfs as "/", dangling
 * ones included, to the path where a mount destination must be created (an image's
 * /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf gets its target made). ".." never
 * climbs above the rootfs, and what is created later is still created through openat2
 * (RESOLVE_IN_ROOT), so a race can change the result but never lead out of the rootfs. */
static int resolve_in_rootfs(int rootfd, const char *rel, char *out, size_t outlen)
{
    char todo[2 * PATH_MAX], rest[2 * PATH_MAX], link[PATH_MAX], comp[NAME_MAX + 1];
    const char *p;
    int hops = 0;
    snprintf(todo, sizeof(todo), "%s", rel);
    out[0] = '\0';
    p = todo;
    for (;;) {
        struct stat st;
        size_t n;
        int dfd;
        ssize_t len;
        while (*p == '/')
            p++;
        if (!*p)
            return 0;
        n = strcspn(p, "/");
        if (n > NAME_MAX) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        p += n;
        if (!strcmp(comp, "."))
            continue;
        if (!strcmp(comp, "..")) {
            char *slash = strrchr(out, '/');
            if (slash)
                *slash = '\0';
            else
                out[0] = '\0';
            continue;
        }
        dfd = open_in_root(rootfd, out, O_PATH | O_DIRECTORY);
        if (dfd >= 0 && fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
            len = readlinkat(dfd, comp, link, sizeof(link) - 1);
            close(dfd);
            if (len < 0)
                return -1;
            link[len] = '\0';
            if (++hops > 40) {
                errno = ELOOP;
                return -1;
            }
            /* A link and what follows it that no longer fit: an error, never a cut-off path. */
            if (snprintf(rest, sizeof(rest), "%s", p) >= (int)sizeof(rest) ||
                snprintf(todo, sizeof(todo), "%s/%s", link, rest) >= (int)sizeof(todo)) {
                errno = ENAMETOOLONG;
                return -1;
            }
            p = todo;
            if (link[0] == '/')
                out[0] = '\0';
            continue;
        }
        if (dfd >= 0)
            close(dfd);
        if (strlen(out) + n + 2 > outlen) {
            errno = ENAMETOOLONG;
            return -1;
        }
        append_component(out, outlen, comp);
    }
}

/* Make sure `rel` exists in the root as a directory or an (empty) file; returns an O_PATH fd. */
static int create_dest(int rootfd, const char *given, int kind, int real_dir_only, const char *what)
{
    char parent[PATH_MAX], base[PATH_MAX], resolved[PATH_MAX], rel[PATH_MAX];
    struct stat st;
    int pfd, fd;
    /* proc and sysfs must land on the real directory itself, never through a link: resolve the
     * parent only, and check the last component below. */
    split_path(given, parent, sizeof(parent), base, sizeof(base));
    if (resolve_in_rootfs(rootfd, real_dir_only ? parent : given, resolved, sizeof(resolved)) < 0)
        die(errno, "%s: resolve /%s in the rootfs", what, given);
    if (snprintf(rel, sizeof(rel), "%s%s%s", resolved, real_dir_only && resolved[0] ? "/" : "",
                 real_dir_only ? base : "") >= (int)sizeof(rel))
        die(ENAMETOOLONG, "%s: /%s in the rootfs", what, given);
    if (!rel[0])
        die_msg("%s: /%s resolves to the container's root", what, given);
    if (kind == DEST_DIR && !real_dir_only) {
        fd = mkdirs_in_root(rootfd, rel, 0755);
        if (fd < 0)
            die(errno, "%s: create directory /%s in the rootfs", what, rel);
        return fd;
    }
    split_path(rel, parent, sizeof(parent), base, sizeof(base));
    pfd = mkdirs_in_root(rootfd, parent, 0755);
    if (pfd < 0)
        die(errno, "%s: create directory /%s in the rootfs", what, parent);
    if (kind == DEST_DIR) {
        /* proc and sysfs go only onto real directories, never through a symlink
         * (CVE-2019-19921, CVE-2023-27561: masked paths would miss the real mount). */
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (!S_ISDIR(st.st_mode))
                die_msg("%s: /%s must be a real directory in the rootfs, found %s", what, rel,
                        S_ISLNK(st.st_mode) ? "a symlink" : "a non-directory");
        } else if (mkdirat(pfd, base, 0755) < 0 && errno != EEXIST) {
            die(errno, "%s: create directory /%s in the rootfs", what, rel);
        }
        fd = openat(pfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } else {
        fd = openat(pfd, base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
        if (fd >= 0)
            close(fd);
        fd = open_in_root(rootfd, rel, O_PATH);
    }
    if (fd < 0)
        die(errno, "%s: open /%s in the rootfs", what, rel);
    close(pfd);
    return fd;
}

static void fd_path(char *buf, size_t len, int fd)
{
    snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* Mount flags the kernel keeps locked on a bind mount (e.g. from a less privileged owner):
 * a remount must repeat them or fail with EPERM. */
static unsigned long locked_flags(int fd)
{
    struct statvfs sv;
    unsigned long flags = 0;
    if (fstatvfs(fd, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        flags |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        flags |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        flags |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        flags |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        flags |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        flags |= MS_RELATIME;
    return flags;
}

/* A remount that keeps what the kernel locked. In a user namespace a bind of a more privileged
 * mount keeps that mount's nosuid, nodev, noexec, ro and atime flags (mount_namespaces(7)): a
 * remount that would clear one fails with EPERM. As runc, read them back (statvfs) and retry with
 * the source's read-only and atime flags as they are; the flags asked for stay otherwise. */
#define ATIME_FLAGS (MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME)
static int remount_locked(const char *target, int fd, unsigned long flags)
{
    struct statvfs sv;
    unsigned long locked = locked_flags(fd);
    if (mount(NULL, target, NULL, flags | locked, NULL) == 0)
        return 0;
    if (errno != EPERM)
        return -1;
    if (fstatvfs(fd, &sv) < 0) {
        errno = EPERM;
        return -1;
    }
    flags &= ~(unsigned long)ATIME_FLAGS;
    if (sv.f_flag & ST_RDONLY)
        flags |= MS_RDONLY;
    if (!(locked & (MS_NOATIME | MS_RELATIME)))
        flags |= MS_STRICTATIME;
    return mount(NULL, target, NULL, flags | locked, NULL);
}

static const char *locked_hint(const struct child *c)
{
    return c->userns ? " (in a user namespace the source's nosuid, nodev, noexec, ro and atime flags "
                       "are locked)"
                     : "";
}

static void apply_propagation(const char *target, uint64_t propagation, const char *dest)
{
    static const unsigned long kinds[] = {MS_PRIVATE, MS_SHARED, MS_SLAVE, MS_UNBINDABLE};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (propagation & kinds[i])
            if (mount(NULL, target, NULL, kinds[i] | (propagation & MS_REC), NULL) < 0)
                die(errno, "mount %s: set propagation", dest);
}

/* T_MOUNT: u64 flags, u64 propagation, u64 remount flags, u32 kind, u32 dest kind,
 *          u64 recursive attributes to set, u64 to clear, u32 idmap mode, i32 idmapped tree fd,
 *          source, dest (relative to the rootfs), fstype, data */
struct mount_rec {
    uint64_t flags, propagation, remount, rec_set, rec_clear;
    uint32_t kind, dest_kind, idmap;
    int32_t tree_fd;
    const char *source, *dest, *fstype, *data;
};

/* The one reader of T_MOUNT records (do_mount, open_bind_sources and plan_fds all use it). */
static void read_mount_rec(const struct rec *r, struct mount_rec *m)
{
    struct cur cu;
    cur_init(&cu, r);
    m->flags = cur_u64(&cu);
    m->propagation = cur_u64(&cu);
    m->remount = cur_u64(&cu);
    m->kind = cur_u32(&cu);
    m->dest_kind = cur_u32(&cu);
    m->rec_set = cur_u64(&cu);
    m->rec_clear = cur_u64(&cu);
    m->idmap = cur_u32(&cu);
    m->tree_fd = (int32_t)cur_u32(&cu);
    m->source = cur_str(&cu);
    m->dest = cur_str(&cu);
    m->fstype = cur_str(&cu);
    m->data = cur_str(&cu);
    if (cu.bad)
        die_msg("malformed mount record");
}

/* Change the flags of what is already mounted at m->dest (e.g. the cgroup tmpfs, read-only once
 * its hierarchies are in). */
static void remount(struct child *c, const struct mount_rec *m)
{
    char target[64];
    int fd = open_in_root(c->rootfs_fd, m->dest, O_PATH);
    if (fd < 0)
        die(errno, "mount /%s: open for remount", m->dest);
    fd_path(target, sizeof(target), fd);
    if (remount_locked(target, fd, (unsigned long)m->flags) < 0)
        die(errno, "mount /%s: remount%s%s", m->dest, m->flags & MS_RDONLY ? " read-only" : "", locked_hint(c));
    close(fd);
}

/* The read-only remounts held back until what lies beneath those mounts was made (a read-only
 * tmpfs or /dev: runc's finalizeRootfs). */
static void remount_late(struct child *c)
{
    size_t off = 0;
    struct rec r;
    while (plan_next(c->plan, c->plan_len, &off, &r) > 0) {
        struct mount_rec m;
        if (r.tag != T_MOUNT)
            continue;
        read_mount_rec(&r, &m);
        if (m.kind == MOUNT_REMOUNT_LATE)
            remount(c, &m);
    }
}

static void finish_setup(struct child *c);

static void do_mount(struct child *c, const struct rec *r, int index)
{
    struct mount_rec m;
    char target[64], what[PATH_MAX + 16];
    int fd, real_dir_only;

    read_mount_rec(r, &m);
    if (!strncmp(m.fstype, "cgroup", 6))
        finish_setup(c); /* its root is that of our cgroup namespace, made once we are placed */
    if (m.kind == MOUNT_REMOUNT_LATE)
        return; /* remount_late() */
    if (m.kind == MOUNT_REMOUNT) {
        remount(c, &m);
        return;
    }
    snprintf(what, sizeof(what), "mount /%s", m.dest);
    real_dir_only = m.kind == MOUNT_REGULAR && (!strcmp(m.fstype, "proc") || !strcmp(m.fstype, "sysfs"));
    /* The host's /sys bound on /sys (rootless: runc's spec, or sysfs without a network namespace)
     * is a /sys mount too: a real directory only (CVE-2019-19921, CVE-2023-27561). */
    real_dir_only |= m.kind == MOUNT_BIND && !strcmp(m.source, "/sys") && !strcmp(m.dest, "sys");
    fd = create_dest(c->rootfs_fd, m.dest, (int)m.dest_kind, real_dir_only, what);
    fd_path(target, sizeof(target), fd);

    if (m.kind == MOUNT_BIND && m.idmap) {
        /* The parent prepared the idmapped tree (only it may idmap); we attach it. */
        if (sys_move_mount(m.tree_fd, "", fd, "", P_MOVE_MOUNT_F_EMPTY_PATH | P_MOVE_MOUNT_T_EMPTY_PATH) < 0)
            die(errno, "mount %s onto /%s: attach the idmapped mount", m.source, m.dest);
        close(m.tree_fd);
        m.remount = 0; /* applied as attributes of the idmapped mount */
    } else if (m.kind == MOUNT_BIND) {
        char src_path[64];
        int src = c->bind_sources[index];
        if (src >= 0)
            fd_path(src_path, sizeof(src_path), src);
        if (mount(src >= 0 ? src_path : m.source, target, NULL, MS_BIND | (m.flags & MS_REC), NULL) < 0)
            die(errno, "mount %s onto /%s (bind)", m.source, m.dest);
    } else if (mount(m.source, target, m.fstype, (unsigned long)m.flags, m.data[0] ? m.data : NULL) < 0) {
        die(errno, "mount %s onto /%s (type %s%s%s)", m.source, m.dest, m.fstype,
            m.data[0] ? ", options " : "", m.data);
    }
    close(fd);

    if (!m.remount && !m.propagation && !m.rec_set && !m.rec_clear)
        return;
    /* The fd still names the directory under the new mount: re-resolve to reach the mount. */
    fd = open_in_root(c->rootfs_fd, m.dest, O_PATH);
    if (fd < 0)
        die(errno, "%s: reopen after mounting", what);
    fd_path(target, sizeof(target), fd);
    if (m.remount) {
        if (remount_locked(target, fd, MS_BIND | MS_REMOUNT | (unsigned long)m.remount) < 0)
            die(errno, "mount %s onto /%s: remount with its options%s", m.source, m.dest, locked_hint(c));
    }
    if (m.rec_set || m.rec_clear) {
        /* rro, rnosuid, ...: the whole tree under the mount, submounts included. */
        struct p_mount_attr attr;
        memset(&attr, 0, sizeof(attr));
        attr.attr_set = m.rec_set;
        attr.attr_clr = m.rec_clear;
        if (sys_mount_setattr(fd, "", P_AT_EMPTY_PATH | P_AT_RECURSIVE, &attr) < 0)
            die(errno, "%s: set recursive mount attributes", what);
    }
    apply_propagation(target, m.propagation, m.dest);
    close(fd);
}

/* T_DEVICE: u32 mode, major, minor, uid, gid, bind, path */
static void make_device(struct child *c, const struct rec *r)
{
    char parent[PATH_MAX], base[PATH_MAX], what[PATH_MAX + 16];
    struct cur cu;
    uint32_t mode, major_, minor_, uid, gid, bind;
    const char *path;
    int pfd;

    cur_init(&cu, r);
    mode = cur_u32(&cu);
    major_ = cur_u32(&cu);
    minor_ = cur_u32(&cu);
    uid = cur_u32(&cu);
    gid = cur_u32(&cu);
    bind = cur_u32(&cu);
    path = cur_str(&cu);
    if (cu.bad)
        die_msg("malformed device record");
    snprintf(what, sizeof(what), "device /%s", path);

    if (bind) {
        /* In a user namespace mknod is not allowed: bind the host's node instead. That node is
         * the host's inode, so the bind is read-only (nosuid, noexec): a user namespace that maps
         * the host's root cannot chmod or chown the host's device through it. Its I/O is
         * unaffected (a device's I/O is not a write to its mount). */
        char source[PATH_MAX + 2], target[64];
        int fd = create_dest(c->rootfs_fd, path, DEST_FILE, 0, what);
        snprintf(source, sizeof(source), "/%s", path);
        fd_path(target, sizeof(target), fd);
        if (mount(source, target, NULL, MS_BIND, NULL) < 0)
            die(errno, "%s: bind from the host", what);
        close(fd);
        fd = open_in_root(c->rootfs_fd, path, O_PATH);
        if (fd < 0)
            die(errno, "%s: reopen after binding", what);
        fd_path(target, sizeof(target), fd);
        if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC | locked_flags(fd),
                  NULL) < 0)
            die(errno, "%s: remount the bind read-only", what);
        close(fd);
        return;
    }
    split_path(path, parent, sizeof(parent), base, sizeof(base));
    pfd = mkdirs_in_root(c->rootfs_fd, parent, 0755);
    if (pfd < 0)
        die(errno, "%s: create directory /%s", what, parent);
    if (mknodat(pfd, base, mode, makedev(major_, minor_)) < 0) {
        if (errno != EEXIST)
            die(errno, "%s: mknod", what);
        /* Replace whatever the rootfs had there with the node the config asks for. */
        if (unlinkat(pfd, base, 0) < 0 || mknodat(pfd, base, mode, makedev(major_, minor_)) < 0)
            die(errno, "%s: replace existing file", what);
    }
    if (fchmodat(pfd, base, mode & 07777, 0) < 0)
        die(errno, "%s: chmod", what);
    if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        die(errno, "%s: chown", what);
    close(pfd);
}

static void make_symlink(struct child *c, const struct rec *r)
{
    char parent[PATH_MAX], base[PATH_MAX];
    struct cur cu;
    const char *target, *path;
    int pfd;
    cur_init(&cu, r);
    target = cur_str(&cu);
    path = cur_str(&cu);
    split_path(path, parent, sizeof(parent), base, sizeof(base));
    pfd = mkdirs_in_root(c->rootfs_fd, parent, 0755);
    if (pfd < 0)
        die(errno, "symlink /%s: create directory /%s", path, parent);
    if (symlinkat(target, pfd, base) < 0 && errno != EEXIST)
        die(errno, "symlink /%s -> %s", path, target);
    close(pfd);
}

static void make_dir(struct child *c, const struct rec *r)
{
    struct cur cu;
    uint32_t mode;
    const char *path;
    int fd;
    cur_init(&cu, r);
    mode = cur_u32(&cu);
    path = cur_str(&cu);
    fd = mkdirs_in_root(c->rootfs_fd, path, mode);
    if (fd < 0)
        die(errno, "create directory /%s in the rootfs", path);
    close(fd);
}

#define PROC_SUPER_MAGIC 0x9fa0

/* A masked or read-only path, resolved in the rootfs; under /proc and /sys no symlink may lead
 * to it. -1 when the path does not exist (nothing to protect). */
static int resolve_protected(int rootfd, const char *rel, const char *what)
{
    struct open_how how;
    int pseudo = !strcmp(rel, "proc") || !strncmp(rel, "proc/", 5) || !strcmp(rel, "sys") ||
                 !strncmp(rel, "sys/", 4);
    int fd;
    memset(&how, 0, sizeof(how));
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (pseudo ? RESOLVE_NO_SYMLINKS : 0);
    fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
    if (fd < 0) {
        if (errno == ENOENT)
            return -1;
        if (errno == ELOOP && pseudo)
            die_msg("%s /%s is reached through a symlink: refusing (was /proc or /sys replaced?)", what, rel);
        die(errno, "%s /%s", what, rel);
    }
    return fd;
}

/* A masked or read-only path. Under /proc and /sys no symlink may lead to it, and under /proc it
 * must be procfs itself: a /proc swapped for a symlink to a decoy after proc was mounted would
 * otherwise take every mask and leave the real procfs open (CVE-2023-27561, CVE-2019-19921).
 * -1 when the path does not exist (nothing to protect). */
static int open_protected(int rootfd, const char *rel, const char *what)
{
    struct statfs fs;
    int in_proc = !strcmp(rel, "proc") || !strncmp(rel, "proc/", 5);
    int fd = resolve_protected(rootfd, rel, what);
    if (fd >= 0 && in_proc && (fstatfs(fd, &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC))
        die_msg("%s /%s is not on procfs: refusing (was /proc replaced?)", what, rel);
    return fd;
}

/* readonlyPaths: bind the path onto itself, then remount that bind read-only. */
static void make_readonly(struct child *c, const char *rel)
{
    char target[64];
    unsigned long flags;
    int fd = open_protected(c->rootfs_fd, rel, "readonly path");
    if (fd < 0)
        return;
    fd_path(target, sizeof(target), fd);
    if (mount(target, target, NULL, MS_BIND | MS_REC, NULL) < 0)
        die(errno, "readonly path /%s: bind", rel);
    close(fd);
    fd = open_protected(c->rootfs_fd, rel, "readonly path");
    if (fd < 0)
        die(ENOENT, "readonly path /%s: reopen", rel);
    fd_path(target, sizeof(target), fd);
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | locked_flags(fd);
    if (mount(NULL, target, NULL, flags, NULL) < 0)
        die(errno, "readonly path /%s: remount read-only", rel);
    close(fd);
}

/* maskedPaths: a directory gets an empty read-only tmpfs, anything else /dev/null.
 * The /dev/null bound over it is the host's, opened once and checked to be the real char device
 * 1:3, so a rootfs that plants its own "null" cannot unmask anything (CVE-2025-31133). That bind
 * is the host's inode, so it is made read-only (nosuid, noexec): chmod, chown, utimes and setxattr
 * through a masked path then fail with EROFS instead of changing the host's /dev/null. Reading
 * and writing the device stay as they were (a device's I/O is not a write to its mount). */
static void make_masked(struct child *c, const char *rel, int null_fd)
{
    char target[64], source[64];
    struct stat st;
    unsigned long flags;
    int fd = open_protected(c->rootfs_fd, rel, "masked path");
    if (fd < 0)
        return;
    if (fstat(fd, &st) < 0)
        die(errno, "masked path /%s: stat", rel);
    fd_path(target, sizeof(target), fd);
    if (S_ISDIR(st.st_mode)) {
        flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        if (mount("tmpfs", target, "tmpfs", flags, "size=0,mode=0555") < 0)
            die(errno, "masked path /%s: mount read-only tmpfs", rel);
        close(fd);
        return;
    }
    fd_path(source, sizeof(source), null_fd);
    if (mount(source, target, NULL, MS_BIND, NULL) < 0)
        die(errno, "masked path /%s: bind /dev/null", rel);
    close(fd);
    /* The fd names the file under the bind: reopen to reach the bind itself, the null device. */
    fd = resolve_protected(c->rootfs_fd, rel, "masked path");
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
        die_msg("masked path /%s: not the null device after binding it", rel);
    fd_path(target, sizeof(target), fd);
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC | locked_flags(fd);
    if (mount(NULL, target, NULL, flags, NULL) < 0)
        die(errno, "masked path /%s: remount the /dev/null bind read-only", rel);
    close(fd);
}

static int open_verified_null(void)
{
    struct stat st;
    int fd = open("/dev/null", O_PATH | O_CLOEXEC);
    if (fd < 0)
        die(errno, "open the host's /dev/null");
    if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
        die_msg("the host's /dev/null is not the char device 1:3; refusing to mask paths with it");
    return fd;
}

/* ---- namespaces and the parent handshake ------------------------------------------------ */

static void become_root_in_userns(void)
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

static void finish_setup(struct child *c)
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

/* ---- rootfs ---------------------------------------------------------------------------- */

static uint64_t plan_u64(const struct child *c, uint32_t tag, uint64_t dflt)
{
    struct rec r;
    struct cur cu;
    if (plan_find(c->plan, c->plan_len, tag, &r) <= 0)
        return dflt;
    cur_init(&cu, &r);
    return cur_u64(&cu);
}

/* Make the rootfs a mount of its own (pivot_root needs one) and return an fd of its root.
 * In a new user namespace this runs before setresuid(0) there: we still hold the host's uid, so
 * a parent directory closed to the mapped root (a 0700 /tmp/...) does not stop us. */
static int bind_rootfs_onto_itself(struct child *c)
{
    int fd;
    if (mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        die(errno, "bind the rootfs %s onto itself", c->rootfs);
    fd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        die(errno, "open the rootfs %s", c->rootfs);
    return fd;
}

/* Open every bind source while we still hold the host's uid: in a user namespace, a source under
 * a directory closed to the mapped root could not be reached once we are that root. The mount
 * then goes through /proc/self/fd/N, which needs no search permission on the way. */
static void open_bind_sources(struct child *c)
{
    size_t off = 0;
    struct rec r;
    int index = 0;
    while (plan_next(c->plan, c->plan_len, &off, &r) > 0) {
        struct mount_rec m;
        if (r.tag != T_MOUNT)
            continue;
        if (index >= (int)(sizeof(c->bind_sources) / sizeof(c->bind_sources[0])))
            die_msg("too many mounts (more than %d)", index);
        c->bind_sources[index] = -1;
        read_mount_rec(&r, &m);
        if (m.kind == MOUNT_BIND && !m.idmap) {
            c->bind_sources[index] = open(m.source, O_PATH | O_CLOEXEC);
            if (c->bind_sources[index] < 0 && errno == ENOENT && c->setup_pending) {
                /* The container's cgroup bound without a cgroup namespace: under the systemd
                 * driver it appears only when the parent, placing us, starts the unit. */
                finish_setup(c);
                c->bind_sources[index] = open(m.source, O_PATH | O_CLOEXEC);
            }
            if (c->bind_sources[index] < 0)
                die(errno, "open the bind source %s", m.source);
        }
        index++;
    }
    c->nmounts = index;
}

static uint64_t mount_id(const char *path)
{
    uint64_t id;
    errno = 0;
    id = sys_mount_id(AT_FDCWD, path, AT_NO_AUTOMOUNT);
    if (!id)
        die(errno ? errno : ENOTSUP, "find the mount of %s", path);
    return id;
}

/* Is the mount with this id in a peer group ("shared:N" in mountinfo)? */
static int mount_is_shared(uint64_t id)
{
    char line[4096], prefix[32];
    int shared = 0;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        die(errno, "read /proc/self/mountinfo");
    snprintf(prefix, sizeof(prefix), "%llu ", (unsigned long long)id);
    while (fgets(line, sizeof(line), f)) {
        char *sep;
        if (strncmp(line, prefix, strlen(prefix)) != 0)
            continue;
        sep = strstr(line, " - ");
        if (sep)
            *sep = '\0'; /* optional fields end here */
        shared = strstr(line, " shared:") != NULL;
        break;
    }
    fclose(f);
    return shared;
}

/* The mount point of the mount that holds the rootfs's parent directory: walk up while the
 * mount id stays the same. */
static void mount_root_of_parent(const char *rootfs, char *out, size_t len)
{
    char parent[PATH_MAX];
    uint64_t id;
    snprintf(out, len, "%s", rootfs);
    *strrchr(out, '/') = '\0';
    if (!out[0])
        snprintf(out, len, "/");
    id = mount_id(out);
    while (strcmp(out, "/") != 0) {
        snprintf(parent, sizeof(parent), "%s", out);
        *strrchr(parent, '/') = '\0';
        if (!parent[0])
            snprintf(parent, sizeof(parent), "/");
        if (mount_id(parent) != id)
            break;
        snprintf(out, len, "%s", parent);
    }
}

static void prepare_rootfs(struct child *c)
{
    uint64_t root_prop = plan_u64(c, T_ROOT_PROPAGATION, MS_SLAVE | MS_REC);
    char parent_mount[PATH_MAX];
    size_t off = 0;
    int mount_index = 0;
    struct rec r;

    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, (unsigned long)root_prop, NULL) < 0)
        die(errno, "set the propagation of / in the container's mount namespace");
    /* pivot_root refuses a new root whose parent mount is shared (a rootfsPropagation that is
     * not recursive, or "shared", leaves it so): only then is that mount changed. For "slave" it
     * becomes a slave, so the rootfs bound from it (and the container's /) still receives the
     * host's mounts as asked; otherwise private, as runc does. */
    mount_root_of_parent(c->rootfs, parent_mount, sizeof(parent_mount));
    if (mount_is_shared(mount_id(parent_mount))) {
        unsigned long unshare = (root_prop & MS_SLAVE) ? MS_SLAVE : MS_PRIVATE;
        if (mount(NULL, parent_mount, NULL, unshare, NULL) < 0)
            die(errno, "make %s %s (pivot_root needs a non-shared parent)", parent_mount,
                unshare == MS_SLAVE ? "a slave" : "private");
    }
    c->rootfs_fd = bind_rootfs_onto_itself(c);
    open_bind_sources(c);
    if (c->userns)
        become_root_in_userns();

    while (plan_next(c->plan, c->plan_len, &off, &r) > 0) {
        switch (r.tag) {
        case T_MKDIR: make_dir(c, &r); break;
        case T_MOUNT: do_mount(c, &r, mount_index++); break;
        case T_DEVICE:
            finish_setup(c); /* mknod is checked against the container's device cgroup */
            make_device(c, &r);
            break;
        case T_SYMLINK: make_symlink(c, &r); break;
        default: break;
        }
    }
}

/* No mount namespace (T_CHROOT): the init shares the runtime's mounts, so nothing may be mounted,
 * bound or have its propagation changed; the rootfs is only opened, and the cwd made in it. */
static void open_rootfs_in_place(struct child *c)
{
    size_t off = 0;
    struct rec r;
    c->rootfs_fd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfs_fd < 0)
        die(errno, "open the rootfs %s", c->rootfs);
    if (c->userns)
        become_root_in_userns();
    while (plan_next(c->plan, c->plan_len, &off, &r) > 0)
        if (r.tag == T_MKDIR)
            make_dir(c, &r);
}

int pyrunc_fifo_dir = -1;

/* As runc and crun without a mount namespace: chroot, since pivot_root and MS_MOVE would act on
 * the host's mount table. The helper reopens exec.fifo through the init's own /proc/self/fd, kept
 * from before the chroot: a host procfs handle, closed by the helper as soon as the fifo is open
 * (before `start` lets anything run), and never passed to the container's process. */
static void chroot_into_rootfs(struct child *c)
{
    pyrunc_fifo_dir = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pyrunc_fifo_dir < 0)
        die(errno, "open /proc/self/fd (to reach exec.fifo from the chroot)");
    if (fchdir(c->rootfs_fd) < 0)
        die(errno, "chdir to the rootfs");
    if (chroot(".") < 0)
        die(errno, "chroot into the rootfs %s (no mount namespace)", c->rootfs);
    if (chdir("/") < 0)
        die(errno, "chdir /");
    close(c->rootfs_fd);
    c->rootfs_fd = -1;
}

/* ---- terminal --------------------------------------------------------------------------- */

static int console_socket_fd(const struct child *c)
{
    struct rec r;
    struct cur cu;
    if (plan_find(c->plan, c->plan_len, T_FDS, &r) <= 0)
        return -1;
    cur_init(&cu, &r);
    for (int i = 0; i < 3; i++)
        (void)cur_u32(&cu);
    return (int)(int32_t)cur_u32(&cu);
}

static void send_pty_master(int sock, int master, const char *name)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {(void *)name, strlen(name)};
    struct msghdr msg;
    struct cmsghdr *cmsg;
    memset(&msg, 0, sizeof(msg));
    memset(control, 0, sizeof(control));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &master, sizeof(int));
    /* One message, exactly one fd, the pty's name as payload: what containerd and conmon expect. */
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
        die(errno, "send the pty master to the console socket");
}

/* process.terminal: a pty from the container's own devpts (its /dev/ptmx, resolved inside the
 * rootfs), the slave bound onto /dev/console and made our controlling tty and stdio. */
static void setup_console(struct child *c)
{
    struct rec r;
    struct winsize ws;
    char name[64], target[64], source[64];
    int sock = console_socket_fd(c), master, slave, console, unlock = 0, ptn;
    if (sock < 0)
        return;
    master = open_in_root(c->rootfs_fd, "dev/ptmx", O_RDWR | O_NOCTTY);
    if (master < 0)
        die(errno, "open /dev/ptmx in the container (process.terminal needs a devpts mount on /dev/pts)");
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &ptn) < 0)
        die(errno, "unlock the pty");
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        die(errno, "open the pty slave");
    snprintf(name, sizeof(name), "/dev/pts/%d", ptn);
    /* As runc (run and exec): the process's user owns its terminal, or it could not reopen it
     * ($(tty)) nor change its mode (mesg); the group stays devpts' (tty with gid=5). Ids not
     * mapped in a user namespace (EINVAL, EPERM) or a read-only devpts leave it as it is. */
    if (plan_find(c->plan, c->plan_len, T_USER, &r) > 0) {
        struct cur cu;
        uint32_t uid;
        cur_init(&cu, &r);
        uid = cur_u32(&cu);
        if (fchown(slave, (uid_t)uid, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM && errno != EROFS)
            die(errno, "give the terminal to uid %u", uid);
    }
    if (plan_find(c->plan, c->plan_len, T_CONSOLE_SIZE, &r) > 0) {
        struct cur cu;
        cur_init(&cu, &r);
        memset(&ws, 0, sizeof(ws));
        ws.ws_row = (unsigned short)cur_u32(&cu);
        ws.ws_col = (unsigned short)cur_u32(&cu);
        if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
            die(errno, "set the console size");
    }
    /* Without a mount namespace the bind would be the host's: the pty is the stdio only. */
    if (!has_tag(c, T_EXEC) && !has_tag(c, T_CHROOT)) {
        console = create_dest(c->rootfs_fd, "dev/console", DEST_FILE, 0, "/dev/console");
        fd_path(target, sizeof(target), console);
        fd_path(source, sizeof(source), slave);
        if (mount(source, target, NULL, MS_BIND, NULL) < 0)
            die(errno, "bind the pty onto /dev/console");
        close(console);
    }
    send_pty_master(sock, master, name);
    close(master);
    close(sock);
    if (setsid() < 0)
        die(errno, "setsid");
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        die(errno, "make the pty the controlling terminal");
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            die(errno, "dup the pty onto stdio");
    close(slave);
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

static void protect_paths(struct child *c)
{
    size_t off = 0;
    struct rec r;
    int null_fd = -1;
    while (plan_next(c->plan, c->plan_len, &off, &r) > 0) {
        struct cur cu;
        cur_init(&cu, &r);
        if (r.tag == T_READONLY) {
            make_readonly(c, cur_str(&cu));
        } else if (r.tag == T_MASKED) {
            if (null_fd < 0)
                null_fd = open_verified_null();
            make_masked(c, cur_str(&cu), null_fd);
        }
    }
    if (null_fd >= 0)
        close(null_fd);
    remount_late(c);
    if (has_tag(c, T_ROOT_READONLY)) {
        char target[64];
        unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(c->rootfs_fd);
        fd_path(target, sizeof(target), c->rootfs_fd);
        if (mount(NULL, target, NULL, flags, NULL) < 0)
            die(errno, "remount the rootfs read-only");
    }
}

/* Undo mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape_mountinfo(char *s)
{
    char *out = s;
    for (; *s; s++, out++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
            s[3] <= '7') {
            *out = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *out = *s;
        }
    }
    *out = '\0';
}

/* The mount point of a whole procfs or sysfs (root "/") outside the rootfs, from one mountinfo
 * line ("ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE ..."), or NULL. */
static char *full_proc_or_sys_outside(char *line, const char *rootfs)
{
    char *field[5], *sep = strstr(line, " - "), *fstype, *save = NULL;
    size_t rlen = strlen(rootfs);
    if (!sep)
        return NULL;
    fstype = sep + 3;
    fstype[strcspn(fstype, " ")] = '\0';
    if (strcmp(fstype, "proc") != 0 && strcmp(fstype, "sysfs") != 0)
        return NULL;
    *sep = '\0';
    for (int i = 0; i < 5; i++)
        if (!(field[i] = strtok_r(i ? NULL : line, " ", &save)))
            return NULL;
    if (strcmp(field[3], "/") != 0)
        return NULL; /* a part of one is not "fully visible" to the kernel */
    unescape_mountinfo(field[4]);
    if (!strcmp(rootfs, "/") ||
        (!strncmp(field[4], rootfs, rlen) && (field[4][rlen] == '/' || !field[4][rlen])))
        return NULL; /* the container's own */
    return field[4];
}

/* --no-pivot leaves the host's mounts in the container's mount namespace, under the rootfs moved
 * onto /. A whole procfs or sysfs among them lets a process that makes a user namespace mount a
 * fresh, unmasked one (the kernel's mount_too_revealing() allows it when one is already fully
 * visible). Detach them as runc does (msMoveRoot), propagation to the host cut first; where they
 * cannot be detached (locked in a user namespace), cover them with an empty read-only tmpfs, which
 * a nested namespace then inherits locked, so they no longer count as fully visible. */
static void hide_host_proc_and_sys(const struct child *c)
{
    char line[8192], *point;
    int whole = 1;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        die(errno, "read /proc/self/mountinfo");
    while (fgets(line, sizeof(line), f)) {
        int complete = strchr(line, '\n') != NULL;
        line[strcspn(line, "\n")] = '\0';
        point = whole && complete ? full_proc_or_sys_outside(line, c->rootfs) : NULL;
        whole = complete; /* the rest of an over-long line is not a line */
        if (!point)
            continue;
        if (mount(NULL, point, NULL, MS_SLAVE | MS_REC, NULL) < 0) {
            if (errno == ENOENT)
                continue; /* under a mount detached already */
            die(errno, "--no-pivot: make the host's %s a slave", point);
        }
        if (umount2(point, MNT_DETACH) == 0)
            continue;
        if (errno != EINVAL && errno != EPERM)
            die(errno, "--no-pivot: detach the host's %s", point);
        if (mount("tmpfs", point, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555"))
            die(errno, "--no-pivot: cover the host's %s", point);
    }
    fclose(f);
}

static void enter_rootfs(struct child *c)
{
    uint64_t propagation = plan_u64(c, T_ROOTFS_PROPAGATION, 0);
    if (has_tag(c, T_NO_PIVOT)) {
        hide_host_proc_and_sys(c);
        if (fchdir(c->rootfs_fd) < 0)
            die(errno, "chdir to the rootfs");
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
            die(errno, "move the rootfs onto / (--no-pivot)");
        if (chroot(".") < 0)
            die(errno, "chroot into the rootfs");
    } else {
        int old_root = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
        if (old_root < 0)
            die(errno, "open /");
        if (fchdir(c->rootfs_fd) < 0)
            die(errno, "chdir to the rootfs");
        /* pivot_root(".", ".") stacks the old root under the new one; detach it from there. */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
            die(errno, "pivot_root into %s", c->rootfs);
        if (fchdir(old_root) < 0)
            die(errno, "chdir to the old root");
        if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
            die(errno, "make the old root a slave before detaching it");
        if (umount2(".", MNT_DETACH) < 0)
            die(errno, "detach the old root");
        close(old_root);
    }
    if (chdir("/") < 0)
        die(errno, "chdir /");
    close(c->rootfs_fd);
    c->rootfs_fd = -1;
    if (propagation && mount(NULL, "/", NULL, (unsigned long)propagation, NULL) < 0)
        die(errno, "set rootfsPropagation");
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

pid_t pyrunc_spawn(const char *plan, size_t plan_len, int sync_fd, int plan_fd, int helper_fd,
                   uint64_t clone_flags, int direct)
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
    if (direct)
        /* The cgroup namespace comes later, once the parent has moved us into the cgroup. */
        pid = (pid_t)syscall(SYS_clone, (unsigned long)(clone_flags & ~(uint64_t)CLONE_NEWCGROUP) | SIGCHLD,
                             NULL, NULL, NULL, NULL);
    else
        pid = fork();
    if (pid != 0)
        return pid;
    /* Until the helper reports READY: die with the runtime (its sync socket EOF covers the
     * processes forked later, whose parent is not the runtime). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    child_main(&c, direct);
    _exit(1);
}
#endif
