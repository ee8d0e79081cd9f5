"""Pure logic: device rule emulation and the generated BPF, value conversions,
runc's update flags. No kernel involved (the enforcement tests cover that)."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrunc.cgroups import CgroupError, inner_path
from pyrunc.cgroups import devices as dev
from pyrunc.cgroups._fs import clean_path
from pyrunc.cgroups.resources import (
    convert_blkio_weight,
    convert_shares_to_weight,
    convert_swap,
    parse_id_list,
)
from pyrunc.cgroups.update_flags import ram_in_bytes, update_flags_to_resources
from pyrunc.errors import is_errno

rules_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "allow": st.booleans(),
            "type": st.sampled_from(["a", "b", "c"]),
            "major": st.sampled_from([None, 1, 5, 136]),
            "minor": st.sampled_from([None, 3, 5, 9]),
            "access": st.sampled_from(["r", "w", "m", "rw", "rm", "wm", "rwm"]),
        }
    ),
    max_size=8,
)
access_strategy = st.tuples(
    st.sampled_from(["b", "c"]),
    st.sampled_from([1, 5, 136, 7]),
    st.sampled_from([3, 5, 9, 0]),
    st.integers(1, 7),
)


@settings(max_examples=400, deadline=None)
@given(rules=rules_strategy, accesses=st.lists(access_strategy, min_size=1, max_size=10))
def test_bpf_program_agrees_with_the_v1_emulator(rules, accesses):
    state = dev.emulate(dev.parse_rules(rules, "rules"))
    program = dev.bpf_program(state)
    for dtype, major, minor, access in accesses:
        code = dev.DEV_CHAR if dtype == "c" else dev.DEV_BLOCK
        verdict = dev.run_program(program, code, major, minor, access)
        assert verdict == int(state.permits(dtype, major, minor, access)), (
            rules,
            dtype,
            major,
            minor,
            access,
        )


@settings(max_examples=300, deadline=None)
@given(start=rules_strategy, target=rules_strategy)
def test_v1_transition_reaches_the_target_state(start, target):
    current = dev.emulate(dev.parse_rules(start, "start"))
    wanted = dev.emulate(dev.parse_rules(target, "target"))
    replay = current.copy()
    for filename, line in dev.v1_transition(current, wanted):
        dtype, numbers, *rest = [*line.split(), ""]
        allow = filename == "devices.allow"
        if dtype == "a":
            replay.apply(dev.Rule(allow, "a", -1, -1, dev.ACC_ALL))
            continue
        major, minor = (int(x) if x != "*" else -1 for x in numbers.split(":"))
        replay.apply(dev.Rule(allow, dtype, major, minor, dev.access_bits(rest[0], "t")))
    assert replay == wanted


def test_v1_emulation_follows_the_kernel():
    state = dev.emulate(
        dev.parse_rules(
            [
                {"allow": False, "access": "rwm"},  # deny all
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "m"},  # merges into rwm
                {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"},  # takes w away
            ],
            "r",
        )
    )
    assert not state.default_allow
    assert state.exceptions == {("c", 1, 3): dev.ACC_READ | dev.ACC_MKNOD}
    assert state.permits("c", 1, 3, dev.ACC_READ)
    assert not state.permits("c", 1, 3, dev.ACC_READ | dev.ACC_WRITE)
    assert not state.permits("c", 1, 5, dev.ACC_READ)


def test_devices_list_round_trip():
    text = "c 1:3 rwm\nc 136:* rw\nb *:* m\n"
    state = dev.parse_devices_list(text)
    assert not state.default_allow
    assert state.exceptions == {("c", 1, 3): 7, ("c", 136, -1): 6, ("b", -1, -1): 1}
    assert dev.parse_devices_list("a *:* rwm\n").is_allow_all()


def test_default_devices_match_runc():
    state = dev.emulate(
        dev.parse_rules([{"allow": False, "access": "rwm"}, *dev.DEFAULT_ALLOWED_DEVICES], "r")
    )
    for major, minor in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (136, 4), (10, 200)]:
        assert state.permits("c", major, minor, dev.ACC_ALL), (major, minor)
    assert state.permits("b", 8, 0, dev.ACC_MKNOD)
    assert not state.permits("b", 8, 0, dev.ACC_READ)
    assert not state.permits("c", 1, 11, dev.ACC_READ)  # /dev/kmsg


def test_default_devices_keep_the_host_console_out():
    """c 5:1 is the host's console: runc 1.1's defaults leave it out (issue 18 item 2). The
    container's /dev/console is its pty (c 136:N), which stays allowed."""
    state = dev.emulate(
        dev.parse_rules([{"allow": False, "access": "rwm"}, *dev.DEFAULT_ALLOWED_DEVICES], "r")
    )
    program = dev.bpf_program(state)
    for access in (dev.ACC_READ, dev.ACC_WRITE, dev.ACC_READ | dev.ACC_WRITE):
        assert not state.permits("c", 5, 1, access)
        assert dev.run_program(program, dev.DEV_CHAR, 5, 1, access) == 0
    assert state.permits("c", 5, 1, dev.ACC_MKNOD)  # mknod of anything, as runc: opening is what counts
    assert dev.run_program(program, dev.DEV_CHAR, 136, 3, dev.ACC_READ | dev.ACC_WRITE) == 1


def test_conversions_match_runc():
    assert convert_shares_to_weight(2) == 1
    assert convert_shares_to_weight(1024) == 39
    assert convert_shares_to_weight(262144) == 10000
    assert convert_blkio_weight(10) == 1
    assert convert_blkio_weight(500) == 4950
    assert convert_blkio_weight(1000) == 10000
    assert convert_swap(None, -1) == -1  # unlimited memory, swap unset: unlimited swap
    assert convert_swap(-1, 100) == -1
    assert convert_swap(300, 100) == 200
    assert convert_swap(100, 100) == 0  # equal: no swap at all
    assert convert_swap(500, -1) == 500
    with pytest.raises(CgroupError, match="without a memory limit"):
        convert_swap(100, None)
    with pytest.raises(CgroupError, match="must not be below"):
        convert_swap(50, 100)


def test_cpu_lists():
    assert parse_id_list("0-2,4", "x") == {0, 1, 2, 4}
    assert parse_id_list("3", "x") == {3}
    for bad in ("", "a", "1-", "-1", "2-1", "1,,2"):
        with pytest.raises(CgroupError):
            parse_id_list(bad, "x")


def test_paths_are_cleaned_like_runc():
    assert clean_path("/a/../../b") == "/b"
    assert clean_path("a/../../b") == "b"
    assert clean_path("//x//y/") == "/x/y"
    assert inner_path(None, "abc") == "abc"
    assert inner_path("", "abc") == "abc"
    assert inner_path("/docker/abc", "x") == "/docker/abc"
    with pytest.raises(CgroupError, match="names the root cgroup"):
        inner_path("/..", "x")


def test_update_flags_map_onto_resources():
    resources, rdt = update_flags_to_resources(
        {
            "memory": "256m",
            "memory-swap": "1g",
            "memory-reservation": "128MiB",
            "kernel-memory": "50m",  # accepted and ignored, as runc does
            "cpu-share": "512",
            "cpu-period": "100000",
            "cpu-quota": "-1",
            "cpu-rt-period": "1000000",
            "cpu-rt-runtime": "950000",
            "cpuset-cpus": "0-1",
            "cpuset-mems": "0",
            "pids-limit": "100",
            "blkio-weight": "300",
            "l3-cache-schema": "L3:0=ff",
        }
    )
    assert resources == {
        "memory": {"limit": 256 << 20, "swap": 1 << 30, "reservation": 128 << 20},
        "cpu": {
            "shares": 512,
            "period": 100000,
            "quota": -1,
            "realtimePeriod": 1000000,
            "realtimeRuntime": 950000,
            "cpus": "0-1",
            "mems": "0",
        },
        "pids": {"limit": 100},
        "blockIO": {"weight": 300},
    }
    assert rdt == {"l3CacheSchema": "L3:0=ff"}


def test_update_flag_edge_cases():
    assert update_flags_to_resources({"memory": "-1"})[0] == {"memory": {"limit": -1, "swap": -1}}
    assert update_flags_to_resources({"pids-limit": "0", "blkio-weight": "0", "memory": None})[0] == {}
    assert update_flags_to_resources({"--cpu-shares": "2"})[0] == {"cpu": {"shares": 2}}
    assert ram_in_bytes("1.5g") == 1610612736
    assert ram_in_bytes("100 MB") == 100 << 20
    assert ram_in_bytes("4096") == 4096
    for flag, value, message in [
        ("memory", "lots", r"--memory: invalid value: invalid size: 'lots'"),
        ("memory", "-5", r"--memory: invalid value"),
        ("cpu-period", "-5", r"--cpu-period: invalid value: '-5' must not be negative"),
        ("cpu-quota", "x", r"--cpu-quota: invalid value: 'x' is not an integer"),
        ("no-such", "1", r"--no-such: not an update flag"),
    ]:
        with pytest.raises(CgroupError, match=message):
            update_flags_to_resources({flag: value})


def test_update_command_takes_exactly_the_mapped_flags():
    """update_flags.CLI_FLAGS is the one list: click declares it, and every flag maps somewhere."""
    from pyrunc.cgroups.update_flags import CLI_FLAGS, FLAGS, IGNORED, INTEL_RDT
    from pyrunc.cli import update

    names = [name for name, _help in CLI_FLAGS]
    assert set(names) <= set(FLAGS) | set(IGNORED) | set(INTEL_RDT)
    declared = {opt.lstrip("-") for param in update.params for opt in param.opts if opt.startswith("--")}
    assert declared == {*names, "resources"}


def test_v1_writes_follow_the_rules_order_and_bpf_agrees():
    # Issue 16 item 4: the config's rules in their order, then the defaults; the BPF program
    # checks the same exceptions in the same order and gives the emulator's verdicts.
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 240, "minor": 9, "access": "r"},
        {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "r"},
        {"allow": True, "type": "c", "major": 240, "minor": 9, "access": "w"},  # merges into the first
    ]
    state = dev.emulate(dev.parse_rules([*rules, *dev.DEFAULT_ALLOWED_DEVICES], "r"))
    writes = dev.v1_transition(dev.DeviceState(), state)
    assert writes[:3] == [
        ("devices.deny", "a"),
        ("devices.allow", "c 240:9 rw"),
        ("devices.allow", "b 7:0 r"),
    ]
    assert writes[3] == ("devices.allow", "c *:* m")
    program = dev.bpf_program(state)
    for dtype, major, minor in [("c", 240, 9), ("b", 7, 0), ("c", 1, 3), ("c", 5, 1), ("b", 8, 0)]:
        for access in (dev.ACC_READ, dev.ACC_WRITE, dev.ACC_MKNOD, dev.ACC_ALL):
            kind = dev.DEV_CHAR if dtype == "c" else dev.DEV_BLOCK
            expected = int(state.permits(dtype, major, minor, access))
            assert dev.run_program(program, kind, major, minor, access) == expected, (
                dtype,
                major,
                minor,
                access,
            )


@given(
    st.sampled_from(sorted(errno.errorcode)),
    st.sets(st.sampled_from(sorted(errno.errorcode.values())), max_size=4),
)
def test_is_errno_names_the_errors_errno_names(number, names):
    """errors.is_errno (errno imported only when an error is looked at) answers as errno's own table."""
    assert is_errno(OSError(number, "x"), *names) == (errno.errorcode[number] in names)
