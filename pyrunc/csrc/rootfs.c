/* The container's rootfs, for the child (child.c): its propagation and self-bind, the config's
 * mounts, devices and symlinks, the masked and read-only paths, then pivot_root (or --no-pivot's
 * move). Without a mount namespace (T_CHROOT) nothing is mounted: the rootfs is opened in place
 * and entered with chroot. Every path is resolved inside the rootfs (rootpath.c).
 *
 * Remounts keep the flags the kernel locked: in a user namespace (rootless) a bind of a more
 * privileged mount keeps its nosuid, nodev, noexec, ro and atime flags (remount_locked). A fresh
 * cgroup2 the kernel refuses becomes a bind of the container's cgroup (bind_cgroup_fallback).
 */
#include "child_internal.h"
#include "sysapi.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

enum { MOUNT_REGULAR = 0, MOUNT_BIND = 1, MOUNT_REMOUNT = 2, MOUNT_REMOUNT_LATE = 3 };

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

/* The one reader of T_MOUNT records (do_mount, open_bind_sources and plan_fds all use it). */
void read_mount_rec(const struct rec *r, struct mount_rec *m)
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
    m->fallback = cur_str(&cu);
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

/* A fresh cgroup2 the kernel refused with EPERM (a cgroup namespace our user namespace does not
 * own) or EBUSY (the same hierarchy mounted right there already: the host's, under the /sys that
 * a rootless config binds from the host). As runc and crun: bind the container's own cgroup
 * directory instead (m->fallback, on the host, reached before pivot_root), recursively, and have
 * the caller remount it with the mount's flags (nosuid, nodev, noexec, ro, ...), keeping what the
 * kernel locked. The container sees the same thing: its cgroup as /sys/fs/cgroup. */
static void bind_cgroup_fallback(struct mount_rec *m, const char *target, int refused)
{
    char src_path[64];
    int src = open(m->fallback, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (src < 0)
        die(errno, "mount cgroup2 onto /%s refused (%s); open %s to bind instead", m->dest, errtext(refused),
            m->fallback);
    fd_path(src_path, sizeof(src_path), src);
    if (mount(src_path, target, NULL, MS_BIND | MS_REC, NULL) < 0)
        die(errno, "mount cgroup2 onto /%s refused (%s); bind %s instead", m->dest, errtext(refused),
            m->fallback);
    close(src);
    m->remount = m->flags & ~(uint64_t)(MS_BIND | MS_REC | MS_REMOUNT);
}

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
        if (m.fallback[0] && (errno == EPERM || errno == EBUSY))
            bind_cgroup_fallback(&m, target, errno);
        else
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

void prepare_rootfs(struct child *c)
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
void open_rootfs_in_place(struct child *c)
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
void chroot_into_rootfs(struct child *c)
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

void protect_paths(struct child *c)
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

void enter_rootfs(struct child *c)
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
