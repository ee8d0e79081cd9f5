/* Paths inside the container's rootfs, for the child (child.c) before pivot_root.
 *
 * Every path under the rootfs is resolved with openat2(RESOLVE_IN_ROOT), so a symlink in the rootfs
 * can never lead outside it, and every mount targets the resolved fd through /proc/self/fd
 * (CVE-2021-30465, CVE-2024-45310). What does not exist yet is created one component at a time in
 * the directory that the safe resolution of its parent gave; dangling symlinks are followed inside
 * the rootfs, as the kernel would with the rootfs as "/".
 */
#include "child_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

int open_in_root(int rootfd, const char *rel, uint64_t flags)
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
void split_path(const char *rel, char *parent, size_t plen, char *base, size_t blen)
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
int mkdirs_in_root(int rootfd, const char *rel, mode_t mode)
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
int create_dest(int rootfd, const char *given, int kind, int real_dir_only, const char *what)
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

void fd_path(char *buf, size_t len, int fd)
{
    snprintf(buf, len, "/proc/self/fd/%d", fd);
}

#define PROC_SUPER_MAGIC 0x9fa0

/* A masked or read-only path, resolved in the rootfs; under /proc and /sys no symlink may lead
 * to it. -1 when the path does not exist (nothing to protect). */
int resolve_protected(int rootfd, const char *rel, const char *what)
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
int open_protected(int rootfd, const char *rel, const char *what)
{
    struct statfs fs;
    int in_proc = !strcmp(rel, "proc") || !strncmp(rel, "proc/", 5);
    int fd = resolve_protected(rootfd, rel, what);
    if (fd >= 0 && in_proc && (fstatfs(fd, &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC))
        die_msg("%s /%s is not on procfs: refusing (was /proc replaced?)", what, rel);
    return fd;
}
