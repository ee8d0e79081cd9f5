/* Syscalls newer than some C libraries: the new mount API, statx's mount id and clone3.
 *
 * The same C is built against glibc (pyrunc._core) and musl 1.2.3 (the static init helper), which
 * has the syscall numbers but no wrappers; and glibc's <sys/mount.h> clashes with <linux/mount.h>.
 * So the structures and constants are spelled out here, with a P_ prefix, and called through
 * syscall(2). They are kernel ABI: stable. */
#ifndef PYRUNC_SYSAPI_H
#define PYRUNC_SYSAPI_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct p_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

#define P_MOUNT_ATTR_IDMAP 0x00100000ULL
#define P_OPEN_TREE_CLONE 1U
#define P_OPEN_TREE_CLOEXEC 02000000U /* O_CLOEXEC */
#define P_AT_RECURSIVE 0x8000U
#define P_AT_EMPTY_PATH 0x1000U
#define P_MOVE_MOUNT_F_EMPTY_PATH 0x00000004U
#define P_MOVE_MOUNT_T_EMPTY_PATH 0x00000040U
#define P_STATX_MNT_ID 0x00001000U
#define P_STATX_MASK_OFFSET 0
#define P_STATX_MNT_ID_OFFSET 144 /* struct statx: u64 stx_mnt_id */

/* clone3's arguments up to `cgroup` (CLONE_ARGS_SIZE_VER2, Linux 5.7). */
struct p_clone_args {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
    uint64_t set_tid;
    uint64_t set_tid_size;
    uint64_t cgroup;
};

#define P_CLONE_INTO_CGROUP 0x200000000ULL
#ifndef SYS_clone3
#define SYS_clone3 435 /* the same number on every architecture */
#endif

static inline int sys_open_tree(int dfd, const char *path, unsigned flags)
{
    return (int)syscall(SYS_open_tree, dfd, path, flags);
}

static inline int sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags)
{
    return (int)syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags);
}

static inline int sys_mount_setattr(int dfd, const char *path, unsigned flags, struct p_mount_attr *attr)
{
    return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof(*attr));
}

/* The mount id of a path (statx STATX_MNT_ID, Linux 5.8); 0 with errno set on failure. */
static inline uint64_t sys_mount_id(int dfd, const char *path, int flags)
{
    unsigned char buf[256];
    uint32_t mask;
    uint64_t id;
    memset(buf, 0, sizeof(buf));
    if (syscall(SYS_statx, dfd, path, flags, P_STATX_MNT_ID, buf) < 0)
        return 0;
    memcpy(&mask, buf + P_STATX_MASK_OFFSET, sizeof(mask));
    if (!(mask & P_STATX_MNT_ID))
        return 0;
    memcpy(&id, buf + P_STATX_MNT_ID_OFFSET, sizeof(id));
    return id;
}

#endif
