"""exec --cgroup: runc's argument forms, and the directories they lead to (pure logic over a
temporary tree standing in for the container's cgroup directories)."""

from __future__ import annotations

import os

import pytest

from pyrunc.container.exec import parse_sub_cgroups, sub_cgroup_targets
from pyrunc.errors import PyruncError


class V1:
    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths


class V2:
    def __init__(self, path: str) -> None:
        self.dir = path


def test_forms():
    assert parse_sub_cgroups(["a/b"]) == {"": "a/b"}
    assert parse_sub_cgroups(["cpu,cpuacct:x", "memory:y"]) == {"cpu": "x", "cpuacct": "x", "memory": "y"}
    for bad, problem in (
        (["a", "b"], "CONTROLLER:PATH"),
        ([",cpu:x"], "empty"),
        (["m:x", "m:y"], "more than once"),
    ):
        with pytest.raises(PyruncError, match=problem):
            parse_sub_cgroups(bad)


def test_v1_combined_hierarchy_goes_to_one_directory(tmp_path):
    cpu = tmp_path / "cpu,cpuacct" / "c"
    mem = tmp_path / "memory" / "c"
    for d in (cpu / "x", mem / "y", cpu / "z"):
        os.makedirs(d)
    manager = V1({"cpu": str(cpu), "cpuacct": str(cpu), "memory": str(mem)})
    assert sub_cgroup_targets(manager, {"cpu": "x"}, "cpu:x") == sorted([str(cpu / "x"), str(mem)])
    assert sub_cgroup_targets(manager, {"memory": "y"}, "memory:y") == sorted([str(cpu), str(mem / "y")])
    with pytest.raises(PyruncError, match="shares its hierarchy"):
        sub_cgroup_targets(manager, {"cpu": "x", "cpuacct": "z"}, "cpu:x cpuacct:z")
    with pytest.raises(PyruncError, match="unknown controller pids"):
        sub_cgroup_targets(manager, {"pids": "x"}, "pids:x")


def test_v2_takes_the_plain_form_only(tmp_path):
    os.makedirs(tmp_path / "c" / "s")
    manager = V2(str(tmp_path / "c"))
    assert sub_cgroup_targets(manager, {"": "s"}, "s") == [str(tmp_path / "c" / "s")]
    with pytest.raises(PyruncError, match="single hierarchy"):
        sub_cgroup_targets(manager, {"memory": "s"}, "memory:s")
    with pytest.raises(PyruncError, match="not a sub-cgroup"):
        sub_cgroup_targets(manager, {"": "../c2"}, "../c2")
    with pytest.raises(PyruncError, match="does not exist"):
        sub_cgroup_targets(manager, {"": "nope"}, "nope")
