/* The container child: called from pyrunc._core in the parent; returns the pid there. */
#ifndef PYRUNC_CHILD_H
#define PYRUNC_CHILD_H
#include "common.h"

/* Clone (direct != 0: straight into the new namespaces) or fork (namespaces to join, or a time
 * namespace) and run the container's setup in the child, which ends in the init helper.
 * With `cgroup_fd` >= 0 (a cgroup v2 directory) the child is born in that cgroup where the kernel
 * can (clone3 CLONE_INTO_CGROUP), and *placed says whether it was.
 * Returns the child's pid, or -1 with errno set. */
pid_t pyrunc_spawn(const char *plan, size_t plan_len, int sync_fd, int plan_fd, int helper_fd,
                   uint64_t clone_flags, int direct, int cgroup_fd, int *placed);
/* An fd of a new user namespace with these uid_map/gid_map contents; -1 with errno on failure. */
int pyrunc_userns_fd(const char *uid_map, const char *gid_map);
/* A detached, idmapped clone of `source` for the child to attach; -1 with errno on failure. */
int pyrunc_idmapped_tree(const char *source, int userns_fd, int recursive, int recursive_idmap,
                         uint64_t attr_set, uint64_t attr_clr);
/* Without a mount namespace the chrooted rootfs has no procfs to reopen exec.fifo's O_PATH fd
 * through: an O_PATH fd of the init's /proc/self/fd, opened before the chroot, or -1. */
extern int pyrunc_fifo_dir;
/* In the init helper (join mode): run the child's setup in this image, then the last steps. */
void pyrunc_join_main(const char *plan, size_t plan_len);
#endif
