"""The ENOSYS stub: BPF assembled by hand and put in front of libseccomp's filter, so syscalls
newer than the profile get ENOSYS (which libcs fall back on) rather than the default action."""

from __future__ import annotations

import struct

from pyrunc import _seccomp
from pyrunc.seccomp.profile import ACT_ALLOW, ACT_ERRNO, ACT_LOG, ACT_TRACE, ACTION_MASK, ENOSYS


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
def wanted(default_action: int) -> bool:
    base = default_action & ACTION_MASK
    if base in (ACT_ALLOW, ACT_LOG, ACT_TRACE):
        return False
    return default_action != ACT_ERRNO | ENOSYS


AUDIT_ARCH_X86_64 = 0xC000003E
SCMP_ARCH_X32 = 0x4000003E  # libseccomp's token; the kernel reports AUDIT_ARCH_X86_64
X32_SYSCALL_BIT = 0x40000000
AUDIT_ARCH_S390 = 0x16
AUDIT_ARCH_S390X = 0x80000016


def highest_syscalls(arches: dict[int, int], names: list[str]) -> dict[int, dict[str, int]]:
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
    """BPF to prepend to a filter: ENOSYS for syscalls above `highest` (see highest_syscalls);
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
