"""compile_profile without installing anything: the compiled BPF is run through a small cBPF
interpreter (bpf_interp.py) to see what it answers for a given arch, syscall and arguments."""

from __future__ import annotations

import os

import bpf_interp
import pytest

from pyrunc import _seccomp, seccomp
from pyrunc.config import ConfigError
from pyrunc.store import SECCOMP_CACHE_PREFIX

NATIVE = _seccomp.native_arch()
AUDIT_I386 = 0x40000003
AUDIT_AARCH64 = 0xC00000B7
EPERM, ENXIO, EXDEV, ENOSYS = 1, 6, 18, 38
# The runtime-spec's list (libseccomp 2.5 names), split by byte order; this host is x86_64.
LITTLE_ENDIAN_ARCHES = [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
]
BIG_ENDIAN_ARCHES = [
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
]


def nr(name: str, arch: int = NATIVE) -> int:
    number = _seccomp.highest_syscall(arch, [name])
    assert number >= 0, f"{name} unknown on {arch:#x}"
    return number


def answer(program: seccomp.SeccompProgram, name: str, *args: int, arch: int = NATIVE) -> int:
    return bpf_interp.run(program.bpf, bpf_interp.seccomp_data(arch, nr(name, arch), args))


def answer_nr(program: seccomp.SeccompProgram, number: int, arch: int = NATIVE) -> int:
    return bpf_interp.run(program.bpf, bpf_interp.seccomp_data(arch, number))


def profile(*syscalls: dict, default: str = "SCMP_ACT_ALLOW", **extra) -> dict:
    return {"defaultAction": default, "syscalls": list(syscalls), **extra}


def errno_of(where: str, problem: str, seccomp_object: dict) -> None:
    """Assert compile_profile fails with ConfigError at `where` whose problem has `problem`."""
    with pytest.raises(ConfigError) as info:
        seccomp.compile_profile(seccomp_object)
    assert info.value.where == where
    assert problem in info.value.problem
    assert "\n" not in str(info.value)


# --- actions -----------------------------------------------------------------------------------

ACTION_CASES = [
    ("SCMP_ACT_KILL", None, 0x00000000),
    ("SCMP_ACT_KILL_THREAD", None, 0x00000000),
    ("SCMP_ACT_KILL_PROCESS", None, 0x80000000),
    ("SCMP_ACT_TRAP", None, 0x00030000),
    ("SCMP_ACT_ERRNO", None, 0x00050000 | EPERM),
    ("SCMP_ACT_ERRNO", EXDEV, 0x00050000 | EXDEV),
    ("SCMP_ACT_ERRNO", 0, 0x00050000),
    ("SCMP_ACT_ERRNO", 4094, 0x00050000 | 4094),
    ("SCMP_ACT_TRACE", 0xFFFF, 0x7FF00000 | 0xFFFF),
    ("SCMP_ACT_TRACE", None, 0x7FF00000 | EPERM),
    ("SCMP_ACT_TRACE", 1234, 0x7FF00000 | 1234),
    ("SCMP_ACT_LOG", None, 0x7FFC0000),
    ("SCMP_ACT_NOTIFY", None, 0x7FC00000),
]


@pytest.mark.parametrize(("action", "errno_ret", "expected"), ACTION_CASES)
def test_rule_action(action, errno_ret, expected):
    rule = {"names": ["getpid"], "action": action}
    if errno_ret is not None:
        rule["errnoRet"] = errno_ret
    program = seccomp.compile_profile(profile(rule, listenerPath="/run/agent.sock"))
    assert answer(program, "getpid") == expected
    assert answer(program, "getppid") == 0x7FFF0000


def test_rule_allow_against_denying_default():
    program = seccomp.compile_profile(
        profile({"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}, default="SCMP_ACT_KILL")
    )
    assert answer(program, "getpid") == 0x7FFF0000
    assert answer(program, "read") == 0  # below getpid: the profile's author chose to kill it


@pytest.mark.parametrize(
    ("action", "errno_ret", "expected"), [c for c in ACTION_CASES if c[0] != "SCMP_ACT_NOTIFY"]
)
def test_default_action(action, errno_ret, expected):
    extra = {} if errno_ret is None else {"defaultErrnoRet": errno_ret}
    program = seccomp.compile_profile(
        profile({"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}, default=action, **extra)
    )
    assert answer(program, "read") == expected  # below getpid, so not subject to the ENOSYS stub
    assert answer(program, "getpid") == 0x7FFF0000


def test_rule_equal_to_default_is_dropped_not_refused():
    program = seccomp.compile_profile(
        profile(
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV},
            default="SCMP_ACT_ERRNO",
        )
    )
    assert answer(program, "getpid") == 0x50000 | EPERM
    assert answer(program, "getppid") == 0x50000 | EXDEV


def test_first_unconditional_rule_wins_like_runc_and_crun():
    program = seccomp.compile_profile(
        profile(
            {"names": ["setns"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["setns"], "action": "SCMP_ACT_ERRNO"},
            default="SCMP_ACT_ERRNO",
            defaultErrnoRet=ENOSYS,
        )
    )
    assert answer(program, "setns") == 0x7FFF0000


# --- operators ---------------------------------------------------------------------------------

BIG = 0x1_0000_0005  # needs the high word: checks the 64-bit comparison


def cmp_program(op: str, value: int, value_two: int = 0) -> seccomp.SeccompProgram:
    arg = {"index": 1, "value": value, "op": op}
    if value_two:
        arg["valueTwo"] = value_two
    rule = {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV, "args": [arg]}
    return seccomp.compile_profile(profile(rule))


@pytest.mark.parametrize(
    ("op", "matches"),
    [
        ("SCMP_CMP_EQ", lambda a, v: a == v),
        ("SCMP_CMP_NE", lambda a, v: a != v),
        ("SCMP_CMP_LT", lambda a, v: a < v),
        ("SCMP_CMP_LE", lambda a, v: a <= v),
        ("SCMP_CMP_GT", lambda a, v: a > v),
        ("SCMP_CMP_GE", lambda a, v: a >= v),
    ],
)
@pytest.mark.parametrize("value", [5, BIG])
def test_operator(op, matches, value):
    program = cmp_program(op, value)
    for arg in (0, 4, 5, 6, BIG - 1, BIG, BIG + 1, 0x5_0000_0000, 2**64 - 1):
        expected = 0x50000 | EXDEV if matches(arg, value) else 0x7FFF0000
        assert answer(program, "kill", 0, arg) == expected, (op, value, hex(arg))


def test_masked_eq_is_arg_and_value_equals_value_two():
    # value is the mask, valueTwo the expected result: (arg & 0xF0) == 0x20
    program = cmp_program("SCMP_CMP_MASKED_EQ", 0xF0, 0x20)
    for arg, denied in [
        (0x20, True),
        (0x2F, True),
        (0x120, True),
        (0x10, False),
        (0xF0, False),
        (0x0, False),
    ]:
        expected = 0x50000 | EXDEV if denied else 0x7FFF0000
        assert answer(program, "kill", 0, arg) == expected, hex(arg)


def test_masked_eq_value_two_outside_the_mask_is_cleared_like_libseccomp_does(debug_log):
    # (arg & 0xF0) == 0x21 can never hold as written; libseccomp compares with 0x21 & 0xF0 = 0x20.
    program = cmp_program("SCMP_CMP_MASKED_EQ", 0xF0, 0x21)
    assert answer(program, "kill", 0, 0x21) == 0x50000 | EXDEV
    assert answer(program, "kill", 0, 0x20) == 0x50000 | EXDEV
    assert answer(program, "kill", 0, 0x10) == 0x7FFF0000
    (line,) = debug_log()
    assert "valueTwo 0x21 has bits outside the mask 0xf0" in line["msg"]


def test_masked_eq_high_word():
    program = cmp_program("SCMP_CMP_MASKED_EQ", 0xFFFF_0000_0000_0000, 0x8000_0000_0000_0000)
    assert answer(program, "kill", 0, 0x8000_0000_0000_0001) == 0x50000 | EXDEV
    assert answer(program, "kill", 0, 0x8001_0000_0000_0000) == 0x7FFF0000


@pytest.mark.xfail(
    strict=True,
    reason="libseccomp 2.5.4 mis-merges two range comparisons of one argument when a value needs the "
    "high word (checked on the kernel too: dup3 is killed); runc and crun share this",
)
def test_or_of_64_bit_ranges_on_one_argument():
    rule = {
        "names": ["dup3"],
        "action": "SCMP_ACT_KILL",
        "args": [
            {"index": 2, "value": 2**32, "op": "SCMP_CMP_GE"},
            {"index": 2, "value": 0, "op": "SCMP_CMP_LE"},
        ],
    }
    program = seccomp.compile_profile(profile(rule))
    assert answer(program, "dup3", 0, 0, 2**32) == 0
    assert answer(program, "dup3", 0, 0, 0) == 0
    assert answer(program, "dup3", 0, 0, 1) == 0x7FFF0000  # neither holds: libseccomp still kills


def test_conditions_on_different_arguments_are_anded():
    rule = {
        "names": ["kill"],
        "action": "SCMP_ACT_ERRNO",
        "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"},
        ],
    }
    program = seccomp.compile_profile(profile(rule))
    assert answer(program, "kill", 1, 9) == 0x50000 | EPERM
    assert answer(program, "kill", 1, 15) == 0x7FFF0000
    assert answer(program, "kill", 2, 9) == 0x7FFF0000


def test_conditions_on_one_argument_are_ored_like_runc():
    rule = {
        "names": ["kill"],
        "action": "SCMP_ACT_ERRNO",
        "args": [
            {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 15, "op": "SCMP_CMP_EQ"},
        ],
    }
    program = seccomp.compile_profile(profile(rule))
    assert answer(program, "kill", 0, 9) == 0x50000 | EPERM
    assert answer(program, "kill", 0, 15) == 0x50000 | EPERM
    assert answer(program, "kill", 0, 2) == 0x7FFF0000


# --- architectures -----------------------------------------------------------------------------


@pytest.mark.parametrize("arch", LITTLE_ENDIAN_ARCHES)
def test_every_spec_architecture_of_our_byte_order(arch):
    token = _seccomp.arch_token(arch[len("SCMP_ARCH_") :].lower())
    audit = 0xC000003E if arch == "SCMP_ARCH_X32" else token  # x32 runs under the x86_64 audit arch
    rule = {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENXIO}
    program = seccomp.compile_profile(profile(rule, architectures=[arch]))
    assert bpf_interp.run(program.bpf, bpf_interp.seccomp_data(audit, nr("getpid", token))) == 0x50000 | ENXIO
    assert answer(program, "getpid") == 0x50000 | ENXIO  # the native arch is always in the filter


@pytest.mark.parametrize("arch", BIG_ENDIAN_ARCHES)
def test_spec_architectures_of_the_other_byte_order_are_refused(arch):
    # libseccomp keeps one byte order per filter, and the native (little-endian) arch is always in.
    assert _seccomp.arch_token(arch[len("SCMP_ARCH_") :].lower())
    errno_of(
        "linux.seccomp.architectures[1]", "byte order differs", profile(architectures=["SCMP_ARCH_X86", arch])
    )


def test_x32_calls_are_matched_under_the_x86_64_audit_arch():
    x32 = _seccomp.arch_token("x32")
    rule = {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENXIO}
    program = seccomp.compile_profile(profile(rule, architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]))
    x32_getpid = nr("getpid", x32)
    assert x32_getpid & 0x40000000
    assert bpf_interp.run(program.bpf, bpf_interp.seccomp_data(0xC000003E, x32_getpid)) == 0x50000 | ENXIO


def test_arch_not_in_filter_is_killed():
    program = seccomp.compile_profile(profile({"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}))
    assert answer(program, "getpid", arch=AUDIT_AARCH64) == 0  # SCMP_ACT_KILL (libseccomp's bad-arch action)
    assert answer(program, "getpid", arch=AUDIT_I386) == 0


def test_syscalls_of_other_arches_only_go_to_those_arches():
    # socketcall does not exist on x86_64: the rule must still reach the i386 part of the filter.
    rule = {"names": ["socketcall"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENXIO}
    program = seccomp.compile_profile(profile(rule, architectures=["SCMP_ARCH_X86"]))
    assert answer(program, "socketcall", arch=AUDIT_I386) == 0x50000 | ENXIO


@pytest.mark.parametrize("name", ["SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_VAX", "x86_64", "", 7])
def test_unknown_architecture(name):
    errno_of(
        "linux.seccomp.architectures[1]",
        "not known to libseccomp 2.5",
        profile(architectures=["SCMP_ARCH_X86", name]),
    )


# --- flags -------------------------------------------------------------------------------------

NOTIFY_RULE = {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}


@pytest.mark.parametrize(
    ("flags", "rules", "expected"),
    [
        ([], [], 0),
        (["SECCOMP_FILTER_FLAG_TSYNC"], [], seccomp.FLAG_TSYNC),
        (["SECCOMP_FILTER_FLAG_LOG"], [], seccomp.FLAG_LOG),
        (["SECCOMP_FILTER_FLAG_SPEC_ALLOW"], [], seccomp.FLAG_SPEC_ALLOW),
        (["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], [], 6),
        ([], [NOTIFY_RULE], seccomp.FLAG_NEW_LISTENER),
        (["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"], [NOTIFY_RULE], 8 | 32),
        (["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"], [], 0),  # meaningless without a listener
        (["SECCOMP_FILTER_FLAG_TSYNC"], [NOTIFY_RULE], 1 | 8 | 16),  # TSYNC_ESRCH makes the pair legal
    ],
)
def test_flags(flags, rules, expected):
    program = seccomp.compile_profile(profile(*rules, flags=flags, listenerPath="/run/agent.sock"))
    assert program.flags == expected
    assert _seccomp.flags_supported(program.flags) == 0


def test_unknown_flag():
    errno_of(
        "linux.seccomp.flags[1]",
        "unknown flag 'SECCOMP_FILTER_FLAG_NEW_LISTENER'",
        profile(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_NEW_LISTENER"]),
    )


def test_flag_the_kernel_lacks_is_named(monkeypatch):
    # A flag name we pretend to know, with a bit no kernel has: the probe is the real kernel's.
    monkeypatch.setitem(seccomp.FLAGS, "SECCOMP_FILTER_FLAG_FROM_THE_FUTURE", 1 << 20)
    assert _seccomp.flags_supported(1 << 20) != 0
    errno_of(
        "linux.seccomp.flags[1]",
        f"the running kernel ({os.uname().release}) lacks SECCOMP_FILTER_FLAG_FROM_THE_FUTURE",
        profile(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_FROM_THE_FUTURE"]),
    )


def test_action_the_kernel_lacks_is_named(monkeypatch):
    monkeypatch.setitem(seccomp.ACTIONS, "SCMP_ACT_FROM_THE_FUTURE", 0x7FE00000)
    assert _seccomp.action_available(0x7FE00000) != 0
    rules = [
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["getppid"], "action": "SCMP_ACT_FROM_THE_FUTURE"},
    ]
    errno_of("linux.seccomp.syscalls[1].action", "the running kernel", profile(*rules))


def test_every_spec_action_is_available_on_this_kernel():
    for name, value in seccomp.ACTIONS.items():
        assert _seccomp.action_available(value) == 0, name


# --- listener ----------------------------------------------------------------------------------


def test_listener_fields_are_passed_on():
    program = seccomp.compile_profile(
        profile(NOTIFY_RULE, listenerPath="/run/agent.sock", listenerMetadata="m=1")
    )
    assert (program.listener_path, program.listener_metadata) == ("/run/agent.sock", "m=1")
    plain = seccomp.compile_profile(profile())
    assert (plain.listener_path, plain.listener_metadata) == (None, "")


def test_listener_is_ignored_without_a_notify_rule(tmp_path):
    # The spec: listenerPath is ignored unless SCMP_ACT_NOTIFY is used; no listener fd is made.
    seccomp_object = profile(
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}, listenerPath="/run/a.sock", listenerMetadata="m"
    )
    for cache in (None, f"{tmp_path}/", f"{tmp_path}/"):  # uncached, cache miss, cache hit
        program = seccomp.compile_profile(seccomp_object, cache)
        assert (program.flags, program.listener_path, program.listener_metadata) == (0, None, "")


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seccomp_object", "where", "problem"),
    [
        ([], "linux.seccomp", "must be an object"),
        ({}, "linux.seccomp.defaultAction", "is required"),
        (
            profile(default="SCMP_ACT_PERMIT"),
            "linux.seccomp.defaultAction",
            "unknown action 'SCMP_ACT_PERMIT'",
        ),
        (profile(defaultErrnoRet=1), "linux.seccomp.defaultErrnoRet", "SCMP_ACT_ALLOW takes no errno"),
        (profile(default="SCMP_ACT_ERRNO", defaultErrnoRet=-1), "linux.seccomp.defaultErrnoRet", "0 to 4094"),
        (
            profile(default="SCMP_ACT_ERRNO", defaultErrnoRet=4095),
            "linux.seccomp.defaultErrnoRet",
            "0 to 4094",
        ),
        (
            profile(default="SCMP_ACT_TRACE", defaultErrnoRet=70000),
            "linux.seccomp.defaultErrnoRet",
            "0 to 65535",
        ),
        (
            profile({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}),
            "linux.seccomp.syscalls[0].errnoRet",
            "0 to 4094 for SCMP_ACT_ERRNO",
        ),
        (
            profile(default="SCMP_ACT_NOTIFY", listenerPath="/a"),
            "linux.seccomp.defaultAction",
            "cannot be the default",
        ),
        (
            profile(
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["kill"], "action": "SCMP_ACT_DENY"},
            ),
            "linux.seccomp.syscalls[1].action",
            "unknown action 'SCMP_ACT_DENY'",
        ),
        (
            profile({"names": ["getpid"], "action": "SCMP_ACT_KILL", "errnoRet": 1}),
            "linux.seccomp.syscalls[0].errnoRet",
            "SCMP_ACT_KILL takes no errno",
        ),
        (
            profile(
                {
                    "names": ["kill"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQUAL"}],
                }
            ),
            "linux.seccomp.syscalls[0].args[0].op",
            "unknown operator 'SCMP_CMP_EQUAL'",
        ),
        (
            profile(
                {
                    "names": ["kill"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                }
            ),
            "linux.seccomp.syscalls[0].args[0].index",
            "from 0 to 5",
        ),
        (
            profile(
                {
                    "names": ["kill"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 2**64, "op": "SCMP_CMP_EQ"}],
                }
            ),
            "linux.seccomp.syscalls[0].args[0].value",
            "unsigned 64-bit",
        ),
        (
            profile(
                {
                    "names": ["kill"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "valueTwo": "x", "op": "SCMP_CMP_EQ"}],
                }
            ),
            "linux.seccomp.syscalls[0].args[0].valueTwo",
            "unsigned 64-bit",
        ),
        (profile({"names": [], "action": "SCMP_ACT_ERRNO"}), "linux.seccomp.syscalls[0].names", "non-empty"),
        (
            profile({"names": ["getpid", 3], "action": "SCMP_ACT_ERRNO"}),
            "linux.seccomp.syscalls[0].names[1]",
            "syscall name",
        ),
        (profile(NOTIFY_RULE), "linux.seccomp.listenerPath", "required when a rule uses SCMP_ACT_NOTIFY"),
        (profile(listenerMetadata="x"), "linux.seccomp.listenerMetadata", "without listenerPath"),
        (
            profile({"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}, listenerPath="/a"),
            "linux.seccomp.syscalls[0].action",
            "cannot be used for the write syscall",
        ),
        (profile(flags="SECCOMP_FILTER_FLAG_LOG"), "linux.seccomp.flags", "must be an array"),
        (profile(flags=[["SECCOMP_FILTER_FLAG_LOG"]]), "linux.seccomp.flags[0]", "unknown flag"),
        (profile(default=["SCMP_ACT_ALLOW"]), "linux.seccomp.defaultAction", "unknown action"),
        (
            profile(
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": {}}]}
            ),
            "linux.seccomp.syscalls[0].args[0].op",
            "unknown operator",
        ),
        (profile("getpid"), "linux.seccomp.syscalls[0]", "must be an object"),
        (profile(syscalls={}), "linux.seccomp.syscalls", "must be an array"),
        (profile(architectures="SCMP_ARCH_X86"), "linux.seccomp.architectures", "must be an array"),
    ],
)
def test_bad_input(seccomp_object, where, problem):
    errno_of(where, problem, seccomp_object)


def test_error_message_is_one_line_naming_the_field():
    with pytest.raises(ConfigError) as info:
        seccomp.compile_profile(profile({"names": ["kill"], "action": "SCMP_ACT_BOGUS"}))
    assert str(info.value).startswith("invalid config.json: linux.seccomp.syscalls[0].action: unknown action")


def test_unknown_syscalls_are_skipped_and_logged_at_debug(debug_log):
    rule = {"names": ["getpid", "no_such_syscall", "getppid"], "action": "SCMP_ACT_ERRNO"}
    program = seccomp.compile_profile(profile(rule))
    assert answer(program, "getpid") == 0x50000 | EPERM
    assert answer(program, "getppid") == 0x50000 | EPERM
    lines = debug_log()
    assert [line["level"] for line in lines] == ["debug"]
    assert "no_such_syscall" in lines[0]["msg"]
    assert "linux.seccomp.syscalls[0]" in lines[0]["msg"]


def test_too_long_a_program_is_refused():
    # 150 rules of six 64-bit masked comparisons each: over 4096 instructions.
    rules = []
    for i, name in enumerate(["kill", "tkill", "personality", "getpriority", "setpriority", "ioprio_get"]):
        for v in range(25):
            base = i * 25 + v + 1
            args = [
                {
                    "index": a,
                    "value": 0xFFFF_FFFF_0000_0000 | base << a,
                    "valueTwo": base << 32 | a,
                    "op": "SCMP_CMP_MASKED_EQ",
                }
                for a in range(6)
            ]
            rules.append({"names": [name], "action": "SCMP_ACT_ERRNO", "args": args})
    errno_of("linux.seccomp", "the kernel allows 4096", profile(*rules))


# --- the ENOSYS stub ---------------------------------------------------------------------------

ABOVE_ANY = 1000  # no arch has a syscall this high


def test_stub_answers_enosys_above_the_profiles_highest_syscall():
    rules = [{"names": ["read", "write", "clone3"], "action": "SCMP_ACT_ALLOW"}]
    program = seccomp.compile_profile(profile(*rules, default="SCMP_ACT_ERRNO"))
    assert answer(program, "clone3") == 0x7FFF0000
    assert answer_nr(program, nr("clone3") + 1) == 0x50000 | ENOSYS  # newer than the profile
    assert answer_nr(program, ABOVE_ANY) == 0x50000 | ENOSYS
    assert answer(program, "getpid") == 0x50000 | EPERM  # known to the author, denied as written


def test_stub_with_kill_default():
    program = seccomp.compile_profile(
        profile({"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}, default="SCMP_ACT_KILL_PROCESS")
    )
    assert answer_nr(program, nr("getpid") + 1) == 0x50000 | ENOSYS
    assert answer(program, "read") == 0x80000000


@pytest.mark.parametrize(
    ("default", "errno_ret"),
    [("SCMP_ACT_ALLOW", None), ("SCMP_ACT_LOG", None), ("SCMP_ACT_TRACE", None), ("SCMP_ACT_ERRNO", ENOSYS)],
)
def test_no_stub_for_permissive_or_enosys_defaults(default, errno_ret):
    extra = {} if errno_ret is None else {"defaultErrnoRet": errno_ret}
    program = seccomp.compile_profile(
        profile({"names": ["getpid"], "action": "SCMP_ACT_KILL"}, default=default, **extra)
    )
    plain = _seccomp.build(
        seccomp.ACTIONS[default]
        | (errno_ret if errno_ret is not None else (1 if default == "SCMP_ACT_TRACE" else 0)),
        [],
        [(0, nr("getpid"), ())],
    )
    assert program.bpf == plain


def test_stub_per_arch_and_x32_mode():
    rules = [{"names": ["read", "clone3"], "action": "SCMP_ACT_ALLOW"}]
    program = seccomp.compile_profile(
        profile(*rules, default="SCMP_ACT_ERRNO", architectures=["SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    )
    x32 = _seccomp.arch_token("x32")
    assert answer_nr(program, nr("clone3", AUDIT_I386) + 1, arch=AUDIT_I386) == 0x50000 | ENOSYS
    assert answer(program, "clone3", arch=AUDIT_I386) == 0x7FFF0000
    assert (
        bpf_interp.run(program.bpf, bpf_interp.seccomp_data(0xC000003E, nr("clone3", x32) + 1))
        == 0x50000 | ENOSYS
    )
    assert bpf_interp.run(program.bpf, bpf_interp.seccomp_data(0xC000003E, nr("clone3", x32))) == 0x7FFF0000


def test_stub_leaves_x32_calls_to_the_filter_when_x32_is_not_allowed():
    program = seccomp.compile_profile(
        profile({"names": ["read"], "action": "SCMP_ACT_ALLOW"}, default="SCMP_ACT_ERRNO")
    )
    x32_call = 0x40000000 | ABOVE_ANY
    assert bpf_interp.run(program.bpf, bpf_interp.seccomp_data(0xC000003E, x32_call)) == 0  # bad arch: kill


def test_stub_for_an_x32_only_profile_and_for_s390():
    stub = seccomp.enosys_stub({0xC000003E: {"x32": 0x40000010}, 0x80000016: {"native": 300}})
    filter_says = b"".join([bpf_interp.INSN.pack(0x06, 0, 0, 0x7FFF0000)])  # ret ALLOW
    program = stub + filter_says
    x86_64 = 0xC000003E
    assert bpf_interp.run(program, bpf_interp.seccomp_data(x86_64, 0x40000011)) == 0x50000 | ENOSYS
    assert bpf_interp.run(program, bpf_interp.seccomp_data(x86_64, 0x40000010)) == 0x7FFF0000
    assert (
        bpf_interp.run(program, bpf_interp.seccomp_data(x86_64, 5000)) == 0x7FFF0000
    )  # not x32: the filter decides
    assert (
        bpf_interp.run(program, bpf_interp.seccomp_data(0x80000016, 0)) == 0x50000 | ENOSYS
    )  # s390 multiplexer
    assert bpf_interp.run(program, bpf_interp.seccomp_data(0x80000016, 301)) == 0x50000 | ENOSYS
    assert bpf_interp.run(program, bpf_interp.seccomp_data(0x80000016, 300)) == 0x7FFF0000
    assert bpf_interp.run(program, bpf_interp.seccomp_data(AUDIT_AARCH64, 5000)) == 0x7FFF0000


# --- Docker's default profile ------------------------------------------------------------------


def test_docker_profile_compiles_and_answers_as_written(docker_profile):
    program = seccomp.compile_profile(docker_profile)
    assert program.flags == 0
    assert 0 < program.instructions <= seccomp.BPF_MAXINSNS
    for arch in (NATIVE, AUDIT_I386):
        assert answer(program, "read", arch=arch) == 0x7FFF0000
        assert answer(program, "clone3", arch=arch) == 0x7FFF0000
        assert answer(program, "chroot", arch=arch) == 0x50000 | EPERM  # no CAP_SYS_CHROOT
        assert answer(program, "add_key", arch=arch) == 0x50000 | ENOSYS  # not in the profile
    assert answer(program, "personality", 8) == 0x7FFF0000
    assert answer(program, "personality", 0x400000) == 0x50000 | ENOSYS
    assert answer_nr(program, ABOVE_ANY) == 0x50000 | ENOSYS


# --- cache -------------------------------------------------------------------------------------


def test_cache_hit_gives_the_same_program(tmp_path, docker_profile):
    cache = f"{tmp_path}/cache/"
    first = seccomp.compile_profile(docker_profile, cache)
    entries = os.listdir(cache)
    assert len(entries) == 1
    assert os.stat(os.path.join(cache, entries[0])).st_mode & 0o777 == 0o600
    second = seccomp.compile_profile(docker_profile, cache)
    assert (second.bpf, second.flags) == (first.bpf, first.flags)
    assert os.listdir(cache) == entries


def test_cache_key_covers_the_whole_object(tmp_path):
    cache = f"{tmp_path}/cache/"
    a = seccomp.compile_profile(profile({"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}), cache)
    b = seccomp.compile_profile(
        profile({"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}), cache
    )
    assert answer(a, "getpid") == 0x50000 | EPERM
    assert answer(b, "getpid") == 0x50000 | 5
    notify = seccomp.compile_profile(profile(NOTIFY_RULE, listenerPath="/x", listenerMetadata="m"), cache)
    again = seccomp.compile_profile(profile(NOTIFY_RULE, listenerPath="/x", listenerMetadata="m"), cache)
    assert (again.flags, again.listener_path, again.listener_metadata) == (8, "/x", "m")
    assert again.bpf == notify.bpf
    assert len(os.listdir(cache)) == 3


def test_cache_ignores_entries_others_could_have_written(tmp_path):
    cache = tmp_path / "cache"
    seccomp_object = profile({"names": ["getpid"], "action": "SCMP_ACT_ERRNO"})
    good = seccomp.compile_profile(seccomp_object, f"{cache}/")
    (entry,) = cache.iterdir()
    # Plant an ALLOW-everything program under the same key, group/world-writable.
    planted = (
        seccomp.cache.FORMAT
        + seccomp.cache.FLAGS_RECORD.pack(0)
        + bpf_interp.INSN.pack(0x06, 0, 0, 0x7FFF0000)
    )
    entry.write_bytes(planted)
    entry.chmod(0o666)
    assert seccomp.compile_profile(seccomp_object, f"{cache}/").bpf == good.bpf
    entry.chmod(0o600)
    entry.write_bytes(b"garbage")
    assert seccomp.compile_profile(seccomp_object, f"{cache}/").bpf == good.bpf


def test_cache_is_bounded(tmp_path, monkeypatch):
    """Bounded, and only its own files count: the cache lives in a --root, among containers."""
    monkeypatch.setattr(seccomp.cache, "MAX_ENTRIES", 4)
    neighbours = {"container-a", "#claim-1-b", "other-file"}
    (tmp_path / "container-a").mkdir()
    (tmp_path / "#claim-1-b").mkdir()
    (tmp_path / "other-file").write_text("")
    cache = f"{tmp_path}/{SECCOMP_CACHE_PREFIX}"
    for errno_ret in range(1, 10):
        seccomp.compile_profile(
            profile({"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_ret}), cache
        )
        entries = set(os.listdir(tmp_path))
        assert entries >= neighbours
        assert 1 <= len(entries - neighbours) <= 4
        assert all(
            name.startswith(SECCOMP_CACHE_PREFIX) and os.path.isfile(tmp_path / name)
            for name in entries - neighbours
        )


def test_unwritable_cache_still_compiles(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    program = seccomp.compile_profile(
        profile({"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}), f"{blocker}/cache/"
    )
    assert answer(program, "getpid") == 0x50000 | EPERM


# --- features ----------------------------------------------------------------------------------


def test_features_lists_what_works_here():
    features = seccomp.features()
    assert features["enabled"] is True
    assert features["actions"] == sorted(seccomp.ACTIONS)  # kernel 5.x+: every spec action
    assert features["operators"] == sorted(seccomp.OPERATORS)
    assert features["archs"] == sorted(LITTLE_ENDIAN_ARCHES)
    assert features["knownFlags"] == list(seccomp.FLAGS)
    assert set(features["supportedFlags"]) <= set(features["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_LOG" in features["supportedFlags"]
    for arch in features["archs"]:
        seccomp.compile_profile(profile(architectures=[arch]))
    assert seccomp.libseccomp_version().startswith("2.5.")
