/* What the container child's files share (child.c, rootpath.c, rootfs.c, terminal.c); not part of
 * the interface to pyrunc._core (child.h). */
#ifndef PYRUNC_CHILD_INTERNAL_H
#define PYRUNC_CHILD_INTERNAL_H
#include "child.h"

#include <sys/types.h>

/* Linked into pyrunc._core too: these names are the child's own, not the extension's exports. */
#pragma GCC visibility push(hidden)

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

/* T_MOUNT: u64 flags, u64 propagation, u64 remount flags, u32 kind, u32 dest kind,
 *          u64 recursive attributes to set, u64 to clear, u32 idmap mode, i32 idmapped tree fd,
 *          source, dest (relative to the rootfs), fstype, data */
struct mount_rec {
    uint64_t flags, propagation, remount, rec_set, rec_clear;
    uint32_t kind, dest_kind, idmap;
    int32_t tree_fd;
    const char *source, *dest, *fstype, *data, *fallback;
};

/* child.c: the plan, the stages and the parent handshake */
int has_tag(const struct child *c, uint32_t tag);
uint64_t plan_u64(const struct child *c, uint32_t tag, uint64_t dflt);
/* Read the parent's ack of SETUP_REQ (cgroup placement), then make the cgroup namespace. */
void finish_setup(struct child *c);
void become_root_in_userns(void);

/* rootpath.c: paths inside the rootfs, resolved with openat2(RESOLVE_IN_ROOT) */
int open_in_root(int rootfd, const char *rel, uint64_t flags);
void split_path(const char *rel, char *parent, size_t plen, char *base, size_t blen);
int mkdirs_in_root(int rootfd, const char *rel, mode_t mode);
int create_dest(int rootfd, const char *given, int kind, int real_dir_only, const char *what);
void fd_path(char *buf, size_t len, int fd);
int resolve_protected(int rootfd, const char *rel, const char *what);
int open_protected(int rootfd, const char *rel, const char *what);

/* rootfs.c: the rootfs, its mounts, devices and protected paths, pivot_root or chroot */
void read_mount_rec(const struct rec *r, struct mount_rec *m);
void prepare_rootfs(struct child *c);
void open_rootfs_in_place(struct child *c);
void protect_paths(struct child *c);
void enter_rootfs(struct child *c);
void chroot_into_rootfs(struct child *c);

/* terminal.c: process.terminal */
void setup_console(struct child *c);
int console_socket_fd(const struct child *c); /* -1: no terminal */

#pragma GCC visibility pop
#endif
