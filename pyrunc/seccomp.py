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
"""

from __future__ import annotations

import os
import struct

from pyrunc import _seccomp, log
from pyrunc.errors import ConfigError

WHERE = "linux.seccomp"

EPERM = 1
ENOSYS = 38

# SECCOMP_RET_* / SCMP_ACT_* values (linux/seccomp.h, seccomp.h).
ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_NOTIFY = 0x7FC00000
ACT_TRACE = 0x7FF00000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000
ACTION_MASK = 0xFFFF0000

ACTIONS = {
    "SCMP_ACT_KILL": ACT_KILL_THREAD,  # libseccomp's SCMP_ACT_KILL is the thread variant
    "SCMP_ACT_KILL_THREAD": ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": ACT_TRAP,
    "SCMP_ACT_ERRNO": ACT_ERRNO,
    "SCMP_ACT_TRACE": ACT_TRACE,
    "SCMP_ACT_ALLOW": ACT_ALLOW,
    "SCMP_ACT_LOG": ACT_LOG,
    "SCMP_ACT_NOTIFY": ACT_NOTIFY,
}
ACTIONS_WITH_ERRNO = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
# SECCOMP_RET_DATA is 16 bits; for ERRNO libseccomp also refuses MAX_ERRNO (4095) and above.
_ERRNO_RET_MAX = {"SCMP_ACT_ERRNO": 4094, "SCMP_ACT_TRACE": 0xFFFF}

OPERATORS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

FLAG_TSYNC = 1 << 0
FLAG_LOG = 1 << 1
FLAG_SPEC_ALLOW = 1 << 2
FLAG_NEW_LISTENER = 1 << 3
FLAG_TSYNC_ESRCH = 1 << 4
FLAG_WAIT_KILLABLE_RECV = 1 << 5
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": FLAG_WAIT_KILLABLE_RECV,
}

# Right after the load, init tells the runtime the listener fd's number with a write(2) (the
# runtime then takes the fd with pidfd_getfd, as runc does): were that write notified, it would
# wait for an agent that can only get the fd through it, and the container would hang.
NOTIFY_FORBIDDEN = ("write",)

MAX_SYSCALL_ARGS = 6
BPF_MAXINSNS = 4096  # the kernel refuses longer programs
# libseccomp lays long rule lists out as a binary tree (runc's threshold; 2.5.x misbehaves
# with the tree and no rules at all).
OPTIMIZE_ABOVE_RULES = 32


class SeccompProgram:
    """A compiled filter, ready for seccomp(SECCOMP_SET_MODE_FILTER, flags, ...)."""

    __slots__ = ("bpf", "flags", "listener_metadata", "listener_path")

    def __init__(self, bpf: bytes, flags: int, listener_path: str | None, listener_metadata: str) -> None:
        self.bpf = bpf  # struct sock_filter[], host endian
        self.flags = flags  # SECCOMP_FILTER_FLAG_* for the load
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata

    @property
    def instructions(self) -> int:
        return len(self.bpf) // _seccomp.BPF_INSN_SIZE

    def __repr__(self) -> str:
        return (
            f"SeccompProgram({self.instructions} instructions, flags={self.flags:#x}, "
            f"listener_path={self.listener_path!r})"
        )


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
    key = _cache_key(seccomp)
    program = _cache_load(cache, key, seccomp)
    if program is None:
        program = _compile(seccomp)
        _cache_store(cache, key, program)
    return program


def _compile(seccomp: dict) -> SeccompProgram:
    default_action = _default_action(seccomp)
    arches = _architectures(seccomp.get("architectures"))
    rules, named = _rules(seccomp.get("syscalls"), default_action)
    uses_notify = any(rule.action == ACT_NOTIFY for rule in rules)
    flags = _flags(seccomp.get("flags"), uses_notify)
    listener_path, listener_metadata = _listener(seccomp, uses_notify)
    _check_kernel_actions(default_action, rules)

    bpf = _build(default_action, arches, rules)
    if _wants_enosys_stub(default_action):
        bpf = enosys_stub(_highest_syscalls(arches, named)) + bpf
    count = len(bpf) // _seccomp.BPF_INSN_SIZE
    if count > BPF_MAXINSNS:
        raise ConfigError(
            WHERE, f"the filter needs {count} BPF instructions; the kernel allows {BPF_MAXINSNS}"
        )
    return SeccompProgram(bpf, flags, listener_path, listener_metadata)


# The runtime-spec's architecture names (libseccomp 2.5).
SPEC_ARCHES = (
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
)


def libseccomp_version() -> str:
    return ".".join(map(str, _seccomp.version()))


def features() -> dict:
    """The `linux.seccomp` object of `pyrunc features` (runtime-spec features.md): only what
    works here, i.e. actions and flags the running kernel has and architectures that can share a
    filter with the native one."""
    return {
        "enabled": True,
        "actions": sorted(name for name, value in ACTIONS.items() if not _action_missing(value)),
        "operators": sorted(OPERATORS),
        "archs": sorted(name for name in SPEC_ARCHES if _arch_usable(name)),
        "knownFlags": list(FLAGS),
        "supportedFlags": [name for name, flag in FLAGS.items() if _flag_supported(flag)],
    }


def _arch_usable(name: str) -> bool:
    token = _seccomp.arch_token(name[len("SCMP_ARCH_") :].lower())
    if not token:
        return False
    try:
        _seccomp.build(ACT_ALLOW, [token], [])
    except _seccomp.ArchError:
        return False
    return True


def _flag_supported(flag: int) -> bool:
    # WAIT_KILLABLE_RECV is only accepted together with a listener.
    return _seccomp.flags_supported(flag | (FLAG_NEW_LISTENER if flag == FLAG_WAIT_KILLABLE_RECV else 0)) == 0


# --- actions -----------------------------------------------------------------------------------


def _action(name: object, errno_ret: object, where: str, errno_where: str) -> int:
    """SCMP_ACT_* name (+ optional errnoRet) -> the 32-bit action value."""
    if not isinstance(name, str) or name not in ACTIONS:
        raise ConfigError(where, f"unknown action {name!r}; expected one of {', '.join(ACTIONS)}")
    if errno_ret is None:
        data = EPERM if name in ACTIONS_WITH_ERRNO else 0
    elif name not in ACTIONS_WITH_ERRNO:
        raise ConfigError(errno_where, f"{name} takes no errno; only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do")
    elif not _is_uint(errno_ret, _ERRNO_RET_MAX[name]):
        top = _ERRNO_RET_MAX[name]
        raise ConfigError(errno_where, f"must be an integer from 0 to {top} for {name}, not {errno_ret!r}")
    else:
        data = errno_ret  # type: ignore[assignment]  # _is_uint checked it
    return ACTIONS[name] | data


def _default_action(seccomp: dict) -> int:
    if "defaultAction" not in seccomp:
        raise ConfigError(f"{WHERE}.defaultAction", "is required")
    action = _action(
        seccomp["defaultAction"],
        seccomp.get("defaultErrnoRet"),
        f"{WHERE}.defaultAction",
        f"{WHERE}.defaultErrnoRet",
    )
    if action == ACT_NOTIFY:
        # Every syscall, including the ones init needs to hand the listener fd over, would wait
        # for an agent that has not received the fd yet (runc refuses it for the same reason).
        raise ConfigError(f"{WHERE}.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
    return action


def _check_kernel_actions(default_action: int, rules: list[_Rule]) -> None:
    """Refuse actions the running kernel lacks (e.g. NOTIFY before 5.0) with the field's path."""
    seen = {default_action & ACTION_MASK}
    if _action_missing(default_action):
        raise ConfigError(f"{WHERE}.defaultAction", f"the running kernel ({_kernel()}) lacks this action")
    for rule in rules:
        base = rule.action & ACTION_MASK
        if base in seen:
            continue
        seen.add(base)
        if _action_missing(rule.action):
            raise ConfigError(rule.where_action, f"the running kernel ({_kernel()}) lacks this action")


_action_cache: dict[int, bool] = {}


def _action_missing(action: int) -> bool:
    base = action & ACTION_MASK
    if base not in _action_cache:
        _action_cache[base] = _seccomp.action_available(base) != 0
    return _action_cache[base]


# --- architectures -----------------------------------------------------------------------------


def _architectures(names: object) -> dict[int, int]:
    """SCMP_ARCH_* names -> {libseccomp token: index in architectures[]}. The native arch is
    always in the filter, listed or not."""
    if names is None:
        return {}
    if not isinstance(names, list):
        raise ConfigError(f"{WHERE}.architectures", "must be an array of SCMP_ARCH_* names")
    tokens: dict[int, int] = {}
    for index, name in enumerate(names):
        token = 0
        if isinstance(name, str) and name.startswith("SCMP_ARCH_"):
            token = _seccomp.arch_token(name[len("SCMP_ARCH_") :].lower())
        if not token:
            raise ConfigError(
                f"{WHERE}.architectures[{index}]",
                f"architecture {name!r} is not known to libseccomp {libseccomp_version()}",
            )
        tokens.setdefault(token, index)
    return tokens


# --- rules -------------------------------------------------------------------------------------


class _Rule:
    """One libseccomp rule: action, syscall number, conditions, and where it came from."""

    __slots__ = ("action", "conds", "name", "nr", "where")

    def __init__(self, action: int, nr: int, conds: tuple, name: str, where: str) -> None:
        self.action = action
        self.nr = nr
        self.conds = conds
        self.name = name
        self.where = where

    @property
    def where_action(self) -> str:
        return f"{self.where}.action"


def _rules(syscalls: object, default_action: int) -> tuple[list[_Rule], list[str]]:
    """Flatten syscalls[] into libseccomp rules; also return every syscall name the profile
    mentions that libseccomp knows (the ENOSYS stub needs them, whatever their action)."""
    if syscalls is None:
        return [], []
    if not isinstance(syscalls, list):
        raise ConfigError(f"{WHERE}.syscalls", "must be an array")
    rules: list[_Rule] = []
    named: list[str] = []
    for index, entry in enumerate(syscalls):
        where = f"{WHERE}.syscalls[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(where, "must be an object")
        names = _names(entry.get("names"), where)
        action = _action(entry.get("action"), entry.get("errnoRet"), f"{where}.action", f"{where}.errnoRet")
        condition_sets = _conditions(entry.get("args"), where)
        handoff = [name for name in names if name in NOTIFY_FORBIDDEN]
        if action == ACT_NOTIFY and handoff:
            raise ConfigError(
                f"{where}.action", f"SCMP_ACT_NOTIFY cannot be used for the {handoff[0]} syscall"
            )
        for name in names:
            nr = _seccomp.resolve_syscall(name)
            if nr == _seccomp.NR_SCMP_ERROR:
                log.debug(f"seccomp: unknown syscall {name!r} in {where} ignored")
                continue
            named.append(name)
            if action == default_action:
                continue  # redundant, and libseccomp refuses it
            rules.extend(_Rule(action, nr, conds, name, where) for conds in condition_sets)
    return rules, named


def _names(names: object, where: str) -> list[str]:
    if not isinstance(names, list) or not names:
        raise ConfigError(f"{where}.names", "must be a non-empty array of syscall names")
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.names[{index}]", f"must be a syscall name, not {name!r}")
    return names


def _conditions(args: object, where: str) -> list[tuple]:
    """args[] -> the condition tuples of each rule to add: one rule with all of them (AND), or,
    when an argument index repeats, one rule per condition (OR), as runc and crun do."""
    if args is None or args == []:
        return [()]
    if not isinstance(args, list):
        raise ConfigError(f"{where}.args", "must be an array")
    conds = [_condition(arg, f"{where}.args[{index}]") for index, arg in enumerate(args)]
    indexes = [cond[0] for cond in conds]
    if len(set(indexes)) == len(indexes):
        return [tuple(conds)]
    return [(cond,) for cond in conds]


def _condition(arg: object, where: str) -> tuple[int, int, int, int]:
    if not isinstance(arg, dict):
        raise ConfigError(where, "must be an object")
    index = arg.get("index")
    if not _is_uint(index, MAX_SYSCALL_ARGS - 1):
        raise ConfigError(f"{where}.index", f"must be an argument index from 0 to 5, not {index!r}")
    op = arg.get("op")
    if not isinstance(op, str) or op not in OPERATORS:
        raise ConfigError(f"{where}.op", f"unknown operator {op!r}; expected one of {', '.join(OPERATORS)}")
    value = arg.get("value")
    if not _is_uint(value, 2**64 - 1):
        raise ConfigError(f"{where}.value", f"must be an unsigned 64-bit integer, not {value!r}")
    value_two = arg.get("valueTwo", 0)
    if value_two is None:
        value_two = 0
    if not _is_uint(value_two, 2**64 - 1):
        raise ConfigError(f"{where}.valueTwo", f"must be an unsigned 64-bit integer, not {value_two!r}")
    if op == "SCMP_CMP_MASKED_EQ" and value_two & ~value:  # type: ignore[operator]
        log.debug(
            f"seccomp: {where}: valueTwo {value_two:#x} has bits outside the mask {value:#x};"
            f" libseccomp compares against {value_two & value:#x}"
        )
    return (index, OPERATORS[op], value, value_two)  # type: ignore[return-value]  # checked above


def _is_uint(value: object, maximum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum


# --- flags and listener ------------------------------------------------------------------------


def _flags(names: object, uses_notify: bool) -> int:
    """The spec's flag names -> SECCOMP_FILTER_FLAG_* bits the running kernel accepts together."""
    if names is None:
        names = []
    if not isinstance(names, list):
        raise ConfigError(f"{WHERE}.flags", "must be an array of SECCOMP_FILTER_FLAG_* names")
    flags = FLAG_NEW_LISTENER if uses_notify else 0
    for index, name in enumerate(names):
        if not isinstance(name, str) or name not in FLAGS:
            raise ConfigError(
                f"{WHERE}.flags[{index}]", f"unknown flag {name!r}; expected one of {', '.join(FLAGS)}"
            )
        flag = FLAGS[name]
        if flag == FLAG_WAIT_KILLABLE_RECV and not uses_notify:
            # Only meaningful for notifications; the kernel refuses it without a listener.
            log.debug(f"seccomp: {name} ignored: no rule uses SCMP_ACT_NOTIFY")
            continue
        if not _flag_supported(flag):
            raise ConfigError(f"{WHERE}.flags[{index}]", f"the running kernel ({_kernel()}) lacks {name}")
        flags |= flag
    if flags & FLAG_TSYNC and flags & FLAG_NEW_LISTENER:
        # The kernel takes TSYNC with a listener only if a sync failure may answer ESRCH (5.7+).
        flags |= FLAG_TSYNC_ESRCH
    if flags and _seccomp.flags_supported(flags):
        raise ConfigError(
            f"{WHERE}.flags", f"the running kernel ({_kernel()}) refuses the flag combination {flags:#x}"
        )
    return flags


def _listener(seccomp: dict, uses_notify: bool) -> tuple[str | None, str]:
    path = seccomp.get("listenerPath")
    metadata = seccomp.get("listenerMetadata")
    if path is not None and (not isinstance(path, str) or not path):
        raise ConfigError(f"{WHERE}.listenerPath", "must be the path of a unix socket")
    if metadata is not None and not isinstance(metadata, str):
        raise ConfigError(f"{WHERE}.listenerMetadata", "must be a string")
    if metadata and path is None:
        raise ConfigError(f"{WHERE}.listenerMetadata", "must not be set without listenerPath")
    if not uses_notify:
        return None, ""  # the spec: ignored unless a rule uses SCMP_ACT_NOTIFY
    if path is None:
        raise ConfigError(f"{WHERE}.listenerPath", "is required when a rule uses SCMP_ACT_NOTIFY")
    return path, metadata or ""


# --- compilation -------------------------------------------------------------------------------


def _build(default_action: int, arches: dict[int, int], rules: list[_Rule]) -> bytes:
    plain = [(rule.action, rule.nr, rule.conds) for rule in rules]
    tokens = list(arches)
    try:
        return _seccomp.build(default_action, tokens, plain, len(rules) > OPTIMIZE_ABOVE_RULES)
    except _seccomp.DefaultActionError:
        raise ConfigError(
            f"{WHERE}.defaultAction", f"libseccomp refused the action {default_action:#x}"
        ) from None
    except _seccomp.ArchError as err:
        problem = os.strerror(err.errno)
        if err.errno == 33:  # EDOM
            problem = f"its byte order differs from the native architecture's ({os.uname().machine})"
        raise ConfigError(
            f"{WHERE}.architectures[{arches[tokens[err.index]]}]", f"cannot be added: {problem}"
        ) from None
    except _seccomp.RuleError as err:
        rule = rules[err.index]
        raise ConfigError(
            rule.where, f"libseccomp refused the rule for {rule.name!r}: {os.strerror(err.errno)}"
        ) from None


# Why an ENOSYS stub, and when (runc's libcontainer/seccomp/patchbpf does the same; crun does not
# and relies on profiles setting defaultErrnoRet to ENOSYS, as containers/common's does):
# a profile lists the syscalls its author knew. A syscall added to the kernel later (clone3,
# faccessat2, openat2, ...) falls to the default action, typically EPERM. glibc and other libcs
# probe new syscalls and fall back to the old ones only on ENOSYS; on EPERM they give up, so
# e.g. every pthread_create fails once glibc uses clone3. So when the default action denies
# (ERRNO other than ENOSYS, KILL*, TRAP), a stub in front of the filter answers ENOSYS for any
# syscall number above the highest one the profile names on that architecture. Permissive
# defaults (ALLOW, LOG, TRACE) need no stub. The stub never lets a syscall through: it only
# changes which error a denied call gets, so it cannot weaken the profile.
def _wants_enosys_stub(default_action: int) -> bool:
    base = default_action & ACTION_MASK
    if base in (ACT_ALLOW, ACT_LOG, ACT_TRACE):
        return False
    return default_action != ACT_ERRNO | ENOSYS


AUDIT_ARCH_X86_64 = 0xC000003E
SCMP_ARCH_X32 = 0x4000003E  # libseccomp's token; the kernel reports AUDIT_ARCH_X86_64
X32_SYSCALL_BIT = 0x40000000
AUDIT_ARCH_S390 = 0x16
AUDIT_ARCH_S390X = 0x80000016


def _highest_syscalls(arches: dict[int, int], names: list[str]) -> dict[int, dict[str, int]]:
    """{AUDIT_ARCH: {"native"|"x32": highest syscall number the profile names}}."""
    highest: dict[int, dict[str, int]] = {}
    for token in dict.fromkeys([_seccomp.native_arch(), *arches]):
        top = _seccomp.highest_syscall(token, names)
        if top < 0:
            continue
        if token == SCMP_ARCH_X32:
            highest.setdefault(AUDIT_ARCH_X86_64, {})["x32"] = top
        else:
            highest.setdefault(token, {})["native"] = top
    return highest


_INSN = struct.Struct("=HBBI")
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JA = 0x05  # BPF_JMP | BPF_JA
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGT = 0x25  # BPF_JMP | BPF_JGT | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_OFF_NR = 0  # offsetof(struct seccomp_data, nr)
_OFF_ARCH = 4  # offsetof(struct seccomp_data, arch)
_NEXT = "+1"  # jump target: the following instruction


def enosys_stub(highest: dict[int, dict[str, int]]) -> bytes:
    """BPF to prepend to a filter: ENOSYS for syscalls above `highest` (see _highest_syscalls);
    every other call, and every arch not listed, falls through to the filter."""
    code: list[tuple] = [(_LD_ABS, 0, 0, _OFF_ARCH)]
    for audit in highest:
        code.append((_JEQ, f"arch{audit}", _NEXT, audit))
    code.append((_JA, 0, 0, "filter"))
    for audit, modes in highest.items():
        code.append(("label", f"arch{audit}"))
        code.append((_LD_ABS, 0, 0, _OFF_NR))
        if audit in (AUDIT_ARCH_S390, AUDIT_ARCH_S390X):
            # Numbers the kernel does not know reach seccomp as 0 (the old setup(2)
            # multiplexer), so 0 must answer ENOSYS too.
            code.append((_JEQ, "enosys", _NEXT, 0))
        code.extend(_range_checks(audit, modes))
    code.append(("label", "enosys"))
    code.append((_RET, 0, 0, ACT_ERRNO | ENOSYS))
    code.append(("label", "filter"))
    return _assemble(code)


def _range_checks(audit: int, modes: dict[str, int]) -> list[tuple]:
    if audit != AUDIT_ARCH_X86_64:
        return [(_JGT, "enosys", "filter", modes["native"])]
    # x86_64 and x32 share AUDIT_ARCH_X86_64; x32 calls carry bit 30 in their number. A mode
    # that is not in the filter falls through to it, where libseccomp rejects it as a bad arch.
    native, x32 = modes.get("native"), modes.get("x32")
    if x32 is None:
        return [(_JSET, "filter", _NEXT, X32_SYSCALL_BIT), (_JGT, "enosys", "filter", native)]
    if native is None:
        return [(_JSET, _NEXT, "filter", X32_SYSCALL_BIT), (_JGT, "enosys", "filter", x32)]
    return [
        (_JSET, f"x32_{audit}", _NEXT, X32_SYSCALL_BIT),
        (_JGT, "enosys", "filter", native),
        ("label", f"x32_{audit}"),
        (_JGT, "enosys", "filter", x32),
    ]


def _assemble(code: list[tuple]) -> bytes:
    """Resolve symbolic jump targets (labels, _NEXT) and pack struct sock_filter entries."""
    labels: dict[str, int] = {}
    insns: list[tuple] = []
    for item in code:
        if item[0] == "label":
            labels[item[1]] = len(insns)
        else:
            insns.append(item)
    out = bytearray()
    for pc, (op, jt, jf, k) in enumerate(insns):
        if op == _JA:
            k = _offset(labels, k, pc, 0xFFFFFFFF)
        elif op in (_JEQ, _JGT, _JSET):
            jt = _offset(labels, jt, pc, 0xFF)
            jf = _offset(labels, jf, pc, 0xFF)
        out += _INSN.pack(op, jt, jf, k)
    return bytes(out)


def _offset(labels: dict[str, int], target: str, pc: int, limit: int) -> int:
    if target == _NEXT:
        return 0
    offset = labels[target] - pc - 1
    if not 0 <= offset <= limit:
        raise ValueError(f"BPF jump to {target} out of range: {offset}")
    return offset


def _kernel() -> str:
    return os.uname().release


# --- cache -------------------------------------------------------------------------------------
# One file per compiled profile, named by a SHA-256 over everything the program depends on: the
# profile object, this module's format, the libseccomp version and the running kernel (libseccomp
# and our flag checks probe it). Entries are trusted only if they are regular files owned by us
# and writable by nobody else, so another user cannot plant a weaker filter.

_CACHE_FORMAT = b"pyrunc-seccomp-1\n"
_CACHE_MAX_ENTRIES = 128
_CACHE_FLAGS = struct.Struct("=I")


def _cache_key(seccomp: dict) -> str:
    try:
        from _sha256 import sha256  # built in on 3.11; hashlib would first load OpenSSL (~7 ms)
    except ImportError:  # Python 3.12+
        from hashlib import sha256
    from pyrunc import jsonio

    uname = os.uname()
    digest = sha256(_CACHE_FORMAT)
    digest.update(repr((_seccomp.version(), uname.release, uname.version, uname.machine)).encode())
    digest.update(jsonio.dumps(seccomp).encode())
    return digest.hexdigest()


def _cache_load(cache: str, key: str, seccomp: dict) -> SeccompProgram | None:
    try:
        fd = os.open(cache + key, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not (st.st_mode & 0o170000 == 0o100000 and st.st_uid == os.geteuid() and not st.st_mode & 0o022):
            return None
        data = os.read(fd, st.st_size + 1)
    finally:
        os.close(fd)
    header = len(_CACHE_FORMAT) + _CACHE_FLAGS.size
    bpf = data[header:]
    if not data.startswith(_CACHE_FORMAT) or not bpf or len(bpf) % _seccomp.BPF_INSN_SIZE:
        return None
    (flags,) = _CACHE_FLAGS.unpack_from(data, len(_CACHE_FORMAT))
    if not flags & FLAG_NEW_LISTENER:
        return SeccompProgram(bpf, flags, None, "")
    return SeccompProgram(bpf, flags, seccomp.get("listenerPath"), seccomp.get("listenerMetadata") or "")


def _cache_store(cache: str, key: str, program: SeccompProgram) -> None:
    """Best effort: a cache that cannot be written only costs the next create some time."""
    data = _CACHE_FORMAT + _CACHE_FLAGS.pack(program.flags) + program.bpf
    tmp = f"{cache}{key}.tmp{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(cache), mode=0o700, exist_ok=True)
        _cache_evict(cache)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, cache + key)
    except OSError as err:
        log.debug(f"seccomp: cannot cache the compiled filter as {cache}{key}: {err}")
        try:  # not contextlib.suppress: contextlib costs ~4 ms of imports on the create path
            os.unlink(tmp)
        except OSError:
            pass


def _cache_evict(cache: str) -> None:
    """Keep the cache bounded: past _CACHE_MAX_ENTRIES, drop the older half. Only the files named
    with the cache's prefix count (the directory may be a --root full of containers)."""
    directory, prefix = os.path.split(cache)
    with os.scandir(directory) as entries:
        files = [e for e in entries if e.name.startswith(prefix) and e.is_file(follow_symlinks=False)]
    if len(files) < _CACHE_MAX_ENTRIES:
        return
    files.sort(key=lambda entry: entry.stat(follow_symlinks=False).st_mtime)
    for entry in files[: len(files) // 2]:
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            pass
