"""A small classic-BPF interpreter for seccomp programs, so unit tests can ask what a compiled
filter answers for a given (arch, syscall, args) without installing it."""

from __future__ import annotations

import struct

INSN = struct.Struct("=HBBI")
MASK32 = 0xFFFFFFFF


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    return [INSN.unpack_from(program, off) for off in range(0, len(program), INSN.size)]


def seccomp_data(arch: int, nr: int, args: tuple[int, ...] = (), ip: int = 0) -> bytes:
    """struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]."""
    full = (list(args) + [0] * 6)[:6]
    return struct.pack("=iIQ6Q", nr, arch, ip, *full)


def run(program: bytes, data: bytes) -> int:
    """Return the SECCOMP_RET_* value the program gives for `data`."""
    insns = instructions(program)
    acc = 0
    x = 0
    mem = [0] * 16
    pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if cls == 0x00:  # BPF_LD
            mode = code & 0xE0
            if mode == 0x20:  # BPF_ABS, word only in seccomp
                acc = struct.unpack_from("=I", data, k)[0]
            elif mode == 0x00:  # BPF_IMM
                acc = k
            elif mode == 0x60:  # BPF_MEM
                acc = mem[k]
            else:
                raise ValueError(f"unsupported load {code:#x}")
        elif cls == 0x01:  # BPF_LDX
            x = mem[k] if code & 0xE0 == 0x60 else k
        elif cls == 0x02:  # BPF_ST
            mem[k] = acc
        elif cls == 0x03:  # BPF_STX
            mem[k] = x
        elif cls == 0x04:  # BPF_ALU
            operand = x if code & 0x08 else k
            op = code & 0xF0
            acc = {
                0x00: lambda a, b: a + b,
                0x10: lambda a, b: a - b,
                0x20: lambda a, b: a * b,
                0x40: lambda a, b: a | b,
                0x50: lambda a, b: a & b,
                0x60: lambda a, b: a << b,
                0x70: lambda a, b: a >> b,
                0x80: lambda a, b: -a,
            }[op](acc, operand) & MASK32
        elif cls == 0x05:  # BPF_JMP
            op = code & 0xF0
            operand = x if code & 0x08 else k
            if op == 0x00:  # BPF_JA
                pc += k
                continue
            taken = {
                0x10: acc == operand,
                0x20: acc > operand,
                0x30: acc >= operand,
                0x40: bool(acc & operand),
            }[op]
            pc += jt if taken else jf
        elif cls == 0x06:  # BPF_RET
            return k if code & 0x18 == 0x00 else acc
        elif cls == 0x07:  # BPF_MISC
            if code & 0xF8 == 0x00:
                x = acc
            else:
                acc = x
        else:
            raise ValueError(f"unsupported instruction {code:#x}")
