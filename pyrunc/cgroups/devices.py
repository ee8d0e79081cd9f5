"""Device access rules: parsing, the kernel's v1 semantics, and the v2 BPF program.

A list of OCI rules (linux.resources.devices) is first replayed on an emulator of
the cgroup v1 devices controller (security/device_cgroup.c): a default policy
(allow or deny everything) plus exceptions keyed by (type, major, minor). The
resulting state is what both back ends enforce:
- v1: the writes to devices.allow / devices.deny that take the cgroup from its
  current state to that state (adds before removals, so a live update never
  briefly denies a device that stays allowed);
- v2: a BPF_PROG_TYPE_CGROUP_DEVICE program that answers each access the way
  the v1 controller would.
runc does the same (libcontainer/cgroups/devices); the code here is our own.
"""

import struct

from pyrunc.cgroups._fs import CgroupError, ignore_unknown_fields

ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4  # BPF_DEVCG_ACC_*
ACC_ALL = ACC_MKNOD | ACC_READ | ACC_WRITE
DEV_BLOCK, DEV_CHAR = 1, 2  # BPF_DEVCG_DEV_*
WILDCARD = -1

_ACCESS_BITS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}

# runc's default allowed devices, appended after the config's rules
# (libcontainer/specconv AllowedDevices in runc 1.1): mknod of anything, plus the
# standard /dev nodes, /dev/pts and /dev/net/tun. Not c 5:1, the host's console:
# a node of it shipped in the rootfs (no CAP_MKNOD needed) would let the container
# write to, reconfigure and read the host's console. A container's /dev/console
# is the pty the runtime binds there (c 136:N, allowed below) or nothing.
DEFAULT_ALLOWED_DEVICES: tuple[dict, ...] = (
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # /dev/null
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},  # /dev/random
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},  # /dev/full
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},  # /dev/tty
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},  # /dev/zero
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},  # /dev/urandom
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},  # /dev/pts/*
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},  # /dev/ptmx
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},  # /dev/net/tun
)


class Rule:
    __slots__ = ("access", "allow", "major", "minor", "type")

    def __init__(self, allow: bool, type: str, major: int, minor: int, access: int) -> None:
        self.allow = allow
        self.type = type  # 'a', 'b' or 'c'
        self.major = major
        self.minor = minor
        self.access = access

    def __repr__(self) -> str:
        verb = "allow" if self.allow else "deny"
        return f"Rule({verb} {v1_line(self.type, self.major, self.minor, self.access)})"


def access_bits(text: str, where: str) -> int:
    bits = 0
    for ch in text:
        if ch not in _ACCESS_BITS:
            raise CgroupError(f"{where}.access: {text!r} must be made of r, w and m")
        bits |= _ACCESS_BITS[ch]
    return bits


def access_text(bits: int) -> str:
    return "".join(ch for ch in "rwm" if bits & _ACCESS_BITS[ch])


def _device_number(value, where: str) -> int:
    if value is None:
        return WILDCARD
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise CgroupError(f"{where}: must be a device number (or -1/absent for any), got {value!r}")
    return value


def parse_rules(rules, where: str) -> list[Rule]:
    """OCI linux.resources.devices entries -> Rule objects, rejecting bad ones."""
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise CgroupError(f"{where}: must be an array of device rules")
    parsed = []
    for i, entry in enumerate(rules):
        here = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise CgroupError(f"{here}: must be an object")
        ignore_unknown_fields(entry, here, {"allow", "type", "major", "minor", "access"})
        allow = entry.get("allow")
        if not isinstance(allow, bool):
            raise CgroupError(f"{here}.allow: required, must be true or false")
        dtype = entry.get("type") or "a"
        if dtype not in ("a", "b", "c"):
            raise CgroupError(f"{here}.type: {dtype!r} is not a cgroup device type (a, b or c)")
        access = entry.get("access")
        if not isinstance(access, str) or not access:
            # runc: "device access at N field cannot be empty"
            raise CgroupError(f"{here}.access: required, a non-empty combination of r, w, m")
        bits = access_bits(access, here)
        major = _device_number(entry.get("major"), f"{here}.major")
        minor = _device_number(entry.get("minor"), f"{here}.minor")
        parsed.append(Rule(allow, dtype, major, minor, bits))
    return parsed


class DeviceState:
    """The v1 devices controller's state: default policy + exceptions."""

    __slots__ = ("default_allow", "exceptions")

    def __init__(self, default_allow: bool = True, exceptions: dict | None = None) -> None:
        self.default_allow = default_allow
        # (type, major, minor) -> access bits; in allow mode these are denials,
        # in deny mode they are grants.
        self.exceptions: dict[tuple[str, int, int], int] = dict(exceptions or {})

    def copy(self) -> "DeviceState":
        return DeviceState(self.default_allow, self.exceptions)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DeviceState)
            and self.default_allow == other.default_allow
            and self.exceptions == other.exceptions
        )

    def apply(self, rule: Rule) -> None:
        """What writing `rule` to devices.allow/deny does in the kernel."""
        if rule.type == "a":
            # "a" resets everything (the kernel ignores major, minor and access).
            self.default_allow = rule.allow
            self.exceptions.clear()
            return
        key = (rule.type, rule.major, rule.minor)
        if rule.allow == self.default_allow:
            # Same direction as the default: take bits out of a matching exception.
            remaining = self.exceptions.get(key, 0) & ~rule.access
            if remaining:
                self.exceptions[key] = remaining
            else:
                self.exceptions.pop(key, None)
        else:
            self.exceptions[key] = self.exceptions.get(key, 0) | rule.access

    def is_allow_all(self) -> bool:
        return self.default_allow and not self.exceptions

    def permits(self, dtype: str, major: int, minor: int, access: int) -> bool:
        """The kernel's verdict for one access (used by tests as an oracle)."""
        for (etype, emajor, eminor), bits in self.exceptions.items():
            if not _matches(etype, emajor, eminor, dtype, major, minor):
                continue
            if self.default_allow and access & bits:
                return False
            if not self.default_allow and not access & ~bits:
                return True
        return self.default_allow


def _matches(etype: str, emajor: int, eminor: int, dtype: str, major: int, minor: int) -> bool:
    return etype == dtype and emajor in (WILDCARD, major) and eminor in (WILDCARD, minor)


def emulate(rules: list[Rule], start: DeviceState | None = None) -> DeviceState:
    state = start.copy() if start else DeviceState()
    for rule in rules:
        state.apply(rule)
    return state


# ---------------------------------------------------------------- cgroup v1


def v1_line(dtype: str, major: int, minor: int, access: int) -> str:
    def num(n: int) -> str:
        return "*" if n == WILDCARD else str(n)

    return f"{dtype} {num(major)}:{num(minor)} {access_text(access)}"


def parse_devices_list(text: str) -> DeviceState:
    """devices.list -> state. In allow mode the kernel only prints `a *:* rwm`
    (its denials are invisible), so an allow-mode state read back has none."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if any(parts[0] == "a" for parts in lines):
        return DeviceState(default_allow=True)
    state = DeviceState(default_allow=False)
    for dtype, numbers, access in lines:
        major, _, minor = numbers.partition(":")
        key = (dtype, WILDCARD if major == "*" else int(major), WILDCARD if minor == "*" else int(minor))
        state.exceptions[key] = state.exceptions.get(key, 0) | access_bits(access, "devices.list")
    return state


def v1_transition(current: DeviceState, target: DeviceState) -> list[tuple[str, str]]:
    """(file, line) writes taking a v1 devices cgroup from `current` to `target`.

    Exceptions are written in the order the rules first made them (a DeviceState keeps it): the
    kernel lists them in devices.list in the order written, so after a reset the list reads as
    the config's rules in the config's order, then the runtime's defaults (the spec: entries are
    applied in the listed order; crun does the same, runc sorts them)."""
    if target.default_allow or current.default_allow != target.default_allow:
        # A deny list can't be read back, and a flip of the default needs a reset.
        reset_file = "devices.allow" if target.default_allow else "devices.deny"
        exception_file = "devices.deny" if target.default_allow else "devices.allow"
        writes = [(reset_file, "a")]
        writes += [(exception_file, v1_line(*key, bits)) for key, bits in target.exceptions.items()]
        return writes
    adds, removals = [], []
    for key in [*target.exceptions, *(key for key in current.exceptions if key not in target.exceptions)]:
        have, want = current.exceptions.get(key, 0), target.exceptions.get(key, 0)
        if want & ~have:
            adds.append(("devices.allow", v1_line(*key, want & ~have)))
        if have & ~want:
            removals.append(("devices.deny", v1_line(*key, have & ~want)))
    return adds + removals


# ---------------------------------------------------------------- cgroup v2 (eBPF)

# struct bpf_insn { u8 code; u8 dst:4, src:4; s16 off; s32 imm; }
_LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
_ALU32_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
_ALU32_RSH_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
_ALU32_MOV_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
_ALU64_MOV_K = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K
_JMP32_JNE_K = 0x56  # BPF_JMP32 | BPF_JNE | BPF_K
_JMP32_JEQ_K = 0x16  # BPF_JMP32 | BPF_JEQ | BPF_K
_JMP_EXIT = 0x95  # BPF_JMP | BPF_EXIT

# Registers in the program: r1 = ctx (struct bpf_cgroup_dev_ctx {u32 access_type;
# u32 major; u32 minor;}), r2 = device type, r3 = requested access, r4 = major,
# r5 = minor, r1 reused as scratch once ctx is read.
_R0, _R1, _R2, _R3, _R4, _R5 = range(6)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _prologue() -> list[bytes]:
    return [
        _insn(_LDX_MEM_W, _R2, _R1, 0),  # r2 = ctx->access_type
        _insn(_ALU32_AND_K, _R2, imm=0xFFFF),  # r2 &= 0xffff  -> type
        _insn(_LDX_MEM_W, _R3, _R1, 0),  # r3 = ctx->access_type
        _insn(_ALU32_RSH_K, _R3, imm=16),  # r3 >>= 16  -> access
        _insn(_LDX_MEM_W, _R4, _R1, 4),  # r4 = ctx->major
        _insn(_LDX_MEM_W, _R5, _R1, 8),  # r5 = ctx->minor
    ]


def _verdict(allow: bool) -> list[bytes]:
    return [_insn(_ALU64_MOV_K, _R0, imm=1 if allow else 0), _insn(_JMP_EXIT)]


def _exception_block(key: tuple[str, int, int], bits: int, default_allow: bool) -> list[bytes]:
    """Instructions that return the exception's verdict when it matches, else
    fall through to the next block. Jumps are patched to skip the block."""
    dtype, major, minor = key
    checks: list[tuple[int, int, int]] = []  # (opcode, register, immediate): "skip if"
    checks.append((_JMP32_JNE_K, _R2, DEV_CHAR if dtype == "c" else DEV_BLOCK))
    if major != WILDCARD:
        checks.append((_JMP32_JNE_K, _R4, major))
    if minor != WILDCARD:
        checks.append((_JMP32_JNE_K, _R5, minor))
    body_len = len(checks) + 3 + 2  # checks, mov/and/jump for access, verdict
    out: list[bytes] = []
    for opcode, reg, imm in checks:
        out.append(_insn(opcode, reg, off=body_len - len(out) - 1, imm=imm))
    out.append(_insn(_ALU32_MOV_X, _R1, _R3))
    if default_allow:
        # A denial matches when the request asks for any of its bits.
        out.append(_insn(_ALU32_AND_K, _R1, imm=bits))
        out.append(_insn(_JMP32_JEQ_K, _R1, off=2, imm=0))
    else:
        # A grant matches only when it covers every requested bit.
        out.append(_insn(_ALU32_AND_K, _R1, imm=~bits & ACC_ALL))
        out.append(_insn(_JMP32_JNE_K, _R1, off=2, imm=0))
    out += _verdict(not default_allow)
    assert len(out) == body_len
    return out


def bpf_program(state: DeviceState) -> bytes:
    """A BPF_PROG_TYPE_CGROUP_DEVICE program enforcing `state`."""
    insns = _prologue()
    for key, bits in state.exceptions.items():  # the rules' order, as v1 (the verdict does not depend on it)
        insns += _exception_block(key, bits, state.default_allow)
    insns += _verdict(state.default_allow)
    return b"".join(insns)


def run_program(program: bytes, dtype: int, major: int, minor: int, access: int) -> int:
    """A tiny interpreter for exactly the instructions bpf_program() emits, so
    the generated code can be unit-tested without the kernel."""
    regs = [0] * 11
    ctx = struct.pack("<III", (access << 16) | dtype, major & 0xFFFFFFFF, minor & 0xFFFFFFFF)
    pc = 0
    count = len(program) // 8
    while pc < count:
        code, regbyte, off, imm = struct.unpack_from("<BBhi", program, pc * 8)
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        u32imm = imm & 0xFFFFFFFF
        if code == _LDX_MEM_W:
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == _ALU32_AND_K:
            regs[dst] = (regs[dst] & u32imm) & 0xFFFFFFFF
        elif code == _ALU32_RSH_K:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == _ALU32_MOV_X:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == _ALU64_MOV_K:
            regs[dst] = imm
        elif code == _JMP32_JNE_K:
            if regs[dst] & 0xFFFFFFFF != u32imm:
                pc += off
        elif code == _JMP32_JEQ_K:
            if regs[dst] & 0xFFFFFFFF == u32imm:
                pc += off
        elif code == _JMP_EXIT:
            return regs[_R0]
        else:
            raise ValueError(f"unexpected opcode {code:#x}")
    raise ValueError("program fell off its end")
