"""Pure logic of runtime-spec 1.3's fields: the memory policy record and interface name rules."""

from __future__ import annotations

import struct

import pytest

from pyrunc import plan
from pyrunc.config import ConfigError
from pyrunc.config.semantic import interface_name_problem


def decode(record: bytes) -> tuple[int, bytes, str]:
    tag, length = struct.unpack_from("<II", record)
    assert tag == plan.T_MEMORY_POLICY and length == len(record) - 8
    mode, size = struct.unpack_from("<II", record, 8)
    mask = record[16 : 16 + size]
    where = record[16 + size :].rstrip(b"\0").decode()
    return mode, mask, where


def test_bind_static_on_nodes_0_to_2_and_65():
    record = plan.memory_policy_record(
        {"mode": "MPOL_BIND", "nodes": "0-2,65", "flags": ["MPOL_F_STATIC_NODES"]}
    )
    mode, mask, where = decode(record)
    assert mode == 2 | 1 << 15
    assert len(mask) == 16  # whole u64 words: set_mempolicy reads unsigned longs
    assert int.from_bytes(mask, "little") == 0b111 | 1 << 65
    assert where == "linux.memoryPolicy (MPOL_BIND, nodes 0-2,65)"


def test_local_has_no_mask():
    mode, mask, where = decode(plan.memory_policy_record({"mode": "MPOL_LOCAL"}))
    assert (mode, mask, where) == (4, b"", "linux.memoryPolicy (MPOL_LOCAL)")


def test_a_node_past_the_mask_is_refused_before_any_work():
    with pytest.raises(ConfigError, match=r"linux\.memoryPolicy\.nodes"):
        plan.memory_policy_record({"mode": "MPOL_BIND", "nodes": "0-99999999999"})


@pytest.mark.parametrize(
    ("name", "template", "ok"),
    [
        ("eth0", False, True),
        ("a" * 15, False, True),
        ("a" * 16, False, False),
        ("", False, False),
        ("..", False, False),
        ("eth 0", False, False),
        ("eth:0", False, False),
        ("eth%d", False, False),
        ("eth%d", True, True),
        ("e%dx", True, True),
        ("eth%d%d", True, False),
        ("eth%s", True, False),
    ],
)
def test_interface_names_as_the_kernel_takes_them(name, template, ok):
    assert (interface_name_problem(name, template) is None) == ok
