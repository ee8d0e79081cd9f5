/* Shared by the container child (linked into pyrunc._core) and the static init helper.
 *
 * The launch plan is a byte string built by pyrunc/plan.py: records of
 *   u32 tag, u32 length, payload
 * in little-endian. Numbers come first in a payload, then NUL-terminated strings.
 * Each tag's comment below is its payload's layout, in a form tests/unit/test_plan_layout.py
 * reads to check plan.py's records and these tags and SYNC_* codes against pyrunc/plan.py and
 * pyrunc/container/launch.py: comma-separated fields, each `u32|i32|u64|str NAME`, a repeated
 * one `TYPE NAME[COUNT]` (COUNT an earlier field; `bytes` counts bytes), `bytes NAME...` for the
 * rest of the payload, `-` for none; prose after ` -- `.
 */
#ifndef PYRUNC_COMMON_H
#define PYRUNC_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum plan_tag {
    /* child: namespaces and rootfs (csrc/child.c, rootfs.c) */
    T_CLONE_FLAGS = 1,        /* u64 flags -- namespaces to create */
    T_JOIN_NS = 2,            /* u32 nstype, str path */
    T_ROOTFS = 3,             /* str path -- absolute host path of the rootfs */
    T_ROOT_PROPAGATION = 4,   /* u64 flags -- propagation for "/" before the mounts (default rslave) */
    T_ROOTFS_PROPAGATION = 5, /* u64 flags -- rootfsPropagation, re-applied after pivot_root */
    T_NO_PIVOT = 6,           /* - */
    T_ROOT_READONLY = 7,      /* - */
    T_MOUNT = 8,              /* u64 flags, u64 propagation, u64 remount, u32 kind, u32 dest_kind,
                                 u64 rec_set, u64 rec_clear, u32 idmap, i32 tree_fd, str source,
                                 str dest, str fstype, str data, str fallback -- tree_fd: an
                                 idmapped tree to attach (-1: none); rec_*: mount_setattr's
                                 attr_set/attr_clr; fallback: a fresh cgroup2 the kernel refuses
                                 (EPERM/EBUSY) binds this host directory instead ('': none) */
    T_DEVICE = 9,             /* u32 mode, u32 major, u32 minor, u32 uid, u32 gid, u32 bind,
                                 str path -- mode is type|perm; path relative to the rootfs */
    T_SYMLINK = 10,           /* str target, str path -- path relative to the rootfs */
    T_MASKED = 11,            /* str path -- relative to the rootfs */
    T_READONLY = 12,          /* str path -- relative to the rootfs */
    T_HOSTNAME = 13,          /* str name */
    T_DOMAINNAME = 14,        /* str name */
    T_SYSCTL = 15,            /* str path, str value -- path under /proc/sys */
    T_RLIMIT = 16,            /* u32 resource, u64 soft, u64 hard, str where -- where: for errors */
    T_OOM_SCORE_ADJ = 17,     /* i32 score */
    T_HOOK_CREATE_CONTAINER = 18, /* u32 timeout, u32 argc, u32 envc, str path, str argv[argc],
                                     str envp[envc] -- timeout in seconds, 0: none */
    T_TIME_OFFSETS = 19,      /* str text -- for /proc/self/timens_offsets */
    T_RUNTIME_HOOKS = 20,     /* - -- the parent runs prestart/createRuntime hooks mid-way */
    T_MKDIR = 23,             /* u32 mode, str path -- a directory the rootfs must have (relative) */
    T_EXEC = 24,              /* - -- `exec` into a running container (join, no rootfs work) */
    T_CPU_AFFINITY = 25,      /* u32 n, bytes initial[n], u32 m, bytes final[m] -- exec's masks */
    /* init helper (csrc/init.c) */
    T_ARGS = 40,              /* u32 argc, str argv[argc] */
    T_ENV = 41,               /* u32 envc, str envp[envc] */
    T_CWD = 42,               /* str path */
    T_USER = 43,              /* u32 uid, u32 gid, u32 umask, u32 ngroups, u32 gids[ngroups] --
                                 umask 0xffffffff: keep */
    T_CAPS = 44,              /* u64 bounding, u64 effective, u64 permitted, u64 inheritable,
                                 u64 ambient */
    T_NO_NEW_PRIVS = 45,      /* - */
    T_SECCOMP = 46,           /* u32 flags, u32 notify, bytes bpf... -- BPF instructions */
    T_HOOK_START_CONTAINER = 47, /* u32 timeout, u32 argc, u32 envc, str path, str argv[argc],
                                    str envp[envc] -- as T_HOOK_CREATE_CONTAINER */
    T_PRESERVE_FDS = 48,      /* u32 count -- fds 3 .. 3+count-1 pass through */
    T_FDS = 49,               /* i32 sync, i32 fifo, i32 plan, i32 console -- fifo is O_PATH;
                                 -1: none */
    T_PERSONALITY = 50,       /* u32 persona */
    T_SCHEDULER = 51,         /* u32 policy, i32 nice, u32 priority, u64 flags, u64 runtime,
                                 u64 deadline, u64 period */
    T_IOPRIO = 52,            /* u32 class, u32 priority */
    T_CONSOLE_SIZE = 54,      /* u32 rows, u32 cols */
    T_HOOK_STATE = 55,        /* bytes state... -- the state JSON for startContainer hooks
                                 (appended by the parent) */
    T_MEMORY_POLICY = 60,     /* u32 mode, u32 n, bytes nodes[n], str where -- mode is mode|flags;
                                 nodes: the node mask as u64 words */
    T_CHROOT = 64,            /* str path -- no mount namespace: chroot there (init: the rootfs;
                                 exec: /proc/PID/root of the init), mounting nothing */
};

/* Messages on the sync socket (SOCK_SEQPACKET): header, then payload. */
enum sync_type {
    SYNC_ERROR = 1,        /* child -> parent: errno in err, message in payload; child exits */
    SYNC_USERMAP_REQ = 2,  /* child -> parent: write uid/gid maps for my pid */
    SYNC_INIT_PID = 3,     /* stage 1 -> parent: i32 pid of the init (second fork) */
    SYNC_SETUP_REQ = 4,    /* init -> parent: place me in the cgroup, send the hook state */
    SYNC_HOOKS_REQ = 5,    /* init -> parent: mounts done, run prestart/createRuntime */
    SYNC_READY = 6,        /* helper -> parent: waiting for exec.fifo next */
    SYNC_SECCOMP_FD = 7,   /* helper -> parent: i32 number of the listener fd; the parent takes a
                              copy with pidfd_getfd, then ACKs */
    SYNC_ACK = 100,        /* parent -> child: go on; payload may carry the state JSON. Anything
                              else, or EOF, and the child exits quietly (the parent gave up) */
};

struct sync_header {
    uint32_t type;
    int32_t err;
    uint32_t len;
};

#define SYNC_MAX_PAYLOAD 65536

/* One record of the plan. */
struct rec {
    uint32_t tag;
    uint32_t len;
    const char *data;
};

/* A cursor over one record's payload. */
struct cur {
    const char *p;
    const char *end;
    int bad;
};

/* Iterate records: *off starts at 0; returns 0 at the end, -1 on a malformed plan. */
int plan_next(const char *plan, size_t len, size_t *off, struct rec *out);
int plan_find(const char *plan, size_t len, uint32_t tag, struct rec *out);

void cur_init(struct cur *c, const struct rec *r);
uint32_t cur_u32(struct cur *c);
uint64_t cur_u64(struct cur *c);
const char *cur_str(struct cur *c);

/* Error reporting to the parent over the sync socket. `sync_fd` < 0: stderr. */
extern int g_sync_fd;
extern const char *g_stage;
void die(int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void die_msg(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
int sync_send(int fd, uint32_t type, int32_t err, const void *payload, uint32_t len);
/* Receive one message into buf (payload NUL-terminated); returns payload length, -1 on EOF/error. */
int sync_recv(int fd, struct sync_header *hdr, char *buf, size_t bufsize);
/* Wait for SYNC_ACK; on EOF or any other message exit quietly (the parent is gone or gave up). */
size_t sync_wait_ack(int fd, char *buf, size_t bufsize);

int write_file(const char *path, const char *data, size_t len);
const char *errtext(int err);
void reset_signals(void);
int set_cloexec(int fd, int on);
/* close_range(2) every fd from `from` up, except those in keep (at most CLOSE_RANGE_KEEP_MAX);
 * flags 0 closes them, CLOSE_RANGE_CLOEXEC marks them close-on-exec (what cloexec_from does). */
#define CLOSE_RANGE_KEEP_MAX 80
void close_range_except(int from, const int *keep, int nkeep, unsigned flags);
/* Mark every fd >= `from` close-on-exec, except those listed in keep[]. */
void cloexec_from(int from, const int *keep, int nkeep);

/* Hooks (csrc/hooks.c): run one hook record with the state JSON on stdin.
 * Returns 0, or -1 with a message in err (e.g. "exit status 1, stderr: ..."). */
int run_hook_record(const struct rec *r, const char *state, size_t state_len, char *err, size_t errlen);
int run_hook(const char *path, char *const argv[], char *const envp[], unsigned timeout,
             const char *state, size_t state_len, char *err, size_t errlen);

#endif
