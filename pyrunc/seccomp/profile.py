"""linux.seccomp, profile to rules: the OCI object's actions, architectures, syscalls and their
argument conditions, flags and listener are checked (ConfigError naming the field) and handed to
libseccomp, which builds the filter. The constants are the kernel's and libseccomp's."""

from __future__ import annotations

import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc import _seccomp, log
from pyrunc.config import ConfigError

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


def default_action(seccomp: dict) -> int:
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


def check_kernel_actions(default_action: int, rules: list[_Rule]) -> None:
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


def architectures(names: object) -> dict[int, int]:
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


def syscall_rules(syscalls: object, default_action: int) -> tuple[list[_Rule], list[str]]:
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


def filter_flags(names: object, uses_notify: bool) -> int:
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


def listener(seccomp: dict, uses_notify: bool) -> tuple[str | None, str]:
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


def build(default_action: int, arches: dict[int, int], rules: list[_Rule]) -> bytes:
    plain = [(rule.action, rule.nr, rule.conds) for rule in rules]
    tokens = list(arches)
    try:
        return _seccomp.build(default_action, tokens, plain, len(rules) > OPTIMIZE_ABOVE_RULES)
    except _seccomp.DefaultActionError:
        raise ConfigError(
            f"{WHERE}.defaultAction", f"libseccomp refused the action {default_action:#x}"
        ) from None
    except _seccomp.ArchError as err:
        problem = posix.strerror(err.errno)
        if err.errno == 33:  # EDOM
            problem = f"its byte order differs from the native architecture's ({posix.uname().machine})"
        raise ConfigError(
            f"{WHERE}.architectures[{arches[tokens[err.index]]}]", f"cannot be added: {problem}"
        ) from None
    except _seccomp.RuleError as err:
        rule = rules[err.index]
        raise ConfigError(
            rule.where, f"libseccomp refused the rule for {rule.name!r}: {posix.strerror(err.errno)}"
        ) from None


def _kernel() -> str:
    return posix.uname().release
