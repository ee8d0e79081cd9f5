"""OCI `linux.seccomp` -> a BPF program for seccomp(2), compiled with libseccomp in the parent.

`pyrunc create` / `exec` call compile_profile() when the config has linux.seccomp; the
container's init (static C, no libseccomp) only loads the result:
    seccomp(SECCOMP_SET_MODE_FILTER, program.flags, &(struct sock_fprog){len, program.bpf})
and, when program.flags has SECCOMP_FILTER_FLAG_NEW_LISTENER, hands the returned fd to
program.listener_path.

Semantics follow runc (libcontainer/seccomp) and crun (src/libcrun/seccomp.c):
- a rule whose action equals the default action is dropped (libseccomp refuses it);
- syscall names libseccomp does not know are skipped and logged at debug level;
- several conditions on the *same* argument become one rule per condition (OR): libseccomp
  cannot AND two comparisons of one argument, and runc and crun both fall back to OR;
- SCMP_CMP_MASKED_EQ compares (arg & value) == valueTwo, value being the mask; libseccomp
  first drops the bits of valueTwo outside the mask, so runc, crun and we all compare
  (arg & value) == (valueTwo & value) (logged at debug level when that changes anything);
- errnoRet / defaultErrnoRet default to EPERM and are refused for actions without an errno;
- two unconditional rules for one syscall: libseccomp keeps the first (as for runc and crun).
Imported only when a config has linux.seccomp, so it may import the compiled binding at once.

The package: profile (the object checked and turned into libseccomp rules), enosys (the stub
assembled in front of the filter), cache (compiled filters kept under the store), notify (the
listener fd handed to linux.seccomp.listenerPath). compile_profile ties them together.
"""

from __future__ import annotations

from pyrunc import _seccomp
from pyrunc.config import ConfigError
from pyrunc.seccomp import enosys, profile
from pyrunc.seccomp.cache import entry_key, load_entry, store_entry
from pyrunc.seccomp.enosys import enosys_stub
from pyrunc.seccomp.profile import (
    ACT_NOTIFY,
    ACTIONS,
    BPF_MAXINSNS,
    FLAG_LOG,
    FLAG_NEW_LISTENER,
    FLAG_SPEC_ALLOW,
    FLAG_TSYNC,
    FLAGS,
    OPERATORS,
    WHERE,
    SeccompProgram,
    features,
    libseccomp_version,
)

__all__ = [
    "ACTIONS",
    "FLAGS",
    "FLAG_LOG",
    "FLAG_NEW_LISTENER",
    "FLAG_SPEC_ALLOW",
    "FLAG_TSYNC",
    "OPERATORS",
    "SeccompProgram",
    "compile_profile",
    "enosys_stub",
    "features",
    "libseccomp_version",
]


def compile_profile(seccomp: dict, cache: str | None = None) -> SeccompProgram:
    """Compile the config's `linux.seccomp` object. Raises ConfigError naming the field.

    With `cache` (a path prefix in a root-owned directory pyrunc may create, e.g. the store's
    seccomp_cache: entries are the files `{cache}{key}`), a program compiled before from the same
    object, by the same libseccomp on the same kernel, is reused: libseccomp needs ~15 ms for
    Docker's profile on three architectures, a cache hit well under 1 ms.
    """
    if not isinstance(seccomp, dict):
        raise ConfigError(WHERE, "must be an object")
    if cache is None:
        return _compile(seccomp)
    key = entry_key(seccomp)
    program = load_entry(cache, key, seccomp)
    if program is None:
        program = _compile(seccomp)
        store_entry(cache, key, program)
    return program


def _compile(seccomp: dict) -> SeccompProgram:
    default_action = profile.default_action(seccomp)
    arches = profile.architectures(seccomp.get("architectures"))
    rules, named = profile.syscall_rules(seccomp.get("syscalls"), default_action)
    uses_notify = any(rule.action == ACT_NOTIFY for rule in rules)
    flags = profile.filter_flags(seccomp.get("flags"), uses_notify)
    listener_path, listener_metadata = profile.listener(seccomp, uses_notify)
    profile.check_kernel_actions(default_action, rules)

    bpf = profile.build(default_action, arches, rules)
    if enosys.wanted(default_action):
        bpf = enosys.enosys_stub(enosys.highest_syscalls(arches, named)) + bpf
    count = len(bpf) // _seccomp.BPF_INSN_SIZE
    if count > BPF_MAXINSNS:
        raise ConfigError(
            WHERE, f"the filter needs {count} BPF instructions; the kernel allows {BPF_MAXINSNS}"
        )
    return SeccompProgram(bpf, flags, listener_path, listener_metadata)
