"""Where a container's cgroup goes (runc's cgroupfs rules), creation of parents,
and removal of everything on destroy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from pyrunc.cgroups import CgroupError, Manager, open_manager
from pyrunc.cgroups.discovery import mounted_hierarchies

from .conftest import REPO
from .helpers import CGROUP_ROOT, is_unified, read

pytestmark = pytest.mark.vm


def directories(mgr) -> list[str]:
    return [mgr.dir] if mgr.version == 2 else sorted(set(mgr.paths.values()))


def expected_absolute(inner: str) -> list[str]:
    if is_unified():
        return [CGROUP_ROOT + inner]
    return sorted({mount + inner for mount, _ in mounted_hierarchies().values()})


def test_absolute_path_is_below_every_hierarchy_root(cgroups, workloads):
    mgr = cgroups.open("deep", "er")
    assert directories(mgr) == expected_absolute(cgroups.path("deep", "er"))
    assert all(os.path.isdir(d) for d in directories(mgr))
    work = workloads("exec sleep 600", mgr)
    # The kernel agrees: every mounted hierarchy lists the process at that path. (A v1 hierarchy
    # mounted only in another mount namespace, e.g. crun's hugetlb by a conformance run, shows in
    # /proc/PID/cgroup but is no one's to place processes in from here.)
    mounted = mounted_hierarchies()
    with open(f"/proc/{work.pid}/cgroup") as f:
        lines = [
            line
            for line in f.read().splitlines()
            if any(
                c in mounted for c in (line.split(":")[1].split(",") if line.split(":")[1] else ["unified"])
            )
        ]
    assert lines and all(line.endswith(cgroups.path("deep", "er")) for line in lines)


def test_parents_made_by_create_go_on_destroy_but_existing_ones_stay(cgroups):
    keeper = cgroups.open("shared")
    mgr = cgroups.open("shared", "x", "y")
    made = directories(mgr)
    mgr.destroy()
    assert not any(os.path.exists(d) for d in made)
    assert not any(os.path.exists(os.path.dirname(d)) for d in made)  # .../shared/x, made by create()
    assert all(os.path.isdir(d) for d in directories(keeper))  # .../shared existed before


def test_a_cgroup_that_already_has_processes_is_refused(cgroups, workloads):
    first = cgroups.open()
    workloads("exec sleep 600", first)
    second = open_manager(cgroups.path("c"), "other")
    with pytest.raises(
        CgroupError,
        match=r"linux\.cgroupsPath: container's cgroup is not empty: cgroup .* already has .* \(1\)",
    ):
        second.create()


def test_a_cgroup_with_processes_is_refused_before_anything_is_made(cgroups, workloads):
    # Issue 18 item 5: the refusal comes before any mkdir; the first one's processes and cgroup stay.
    first = cgroups.open("c")
    work = workloads("exec sleep 600", first)
    second = open_manager(cgroups.path("c"), "other")
    made_before = {d: os.path.isdir(d) for d in directories(second)}
    with pytest.raises(CgroupError, match="container's cgroup is not empty"):
        second.create()
    assert {d: os.path.isdir(d) for d in directories(second)} == made_before
    assert first.pids() == [work.pid]


def test_a_frozen_cgroup_is_refused_and_left_as_found(cgroups):
    # Issue 18 item 4: an init joining it would freeze, and create would wait forever.
    first = cgroups.open("c")
    first.freeze()
    second = open_manager(cgroups.path("c"), "other")
    with pytest.raises(CgroupError, match="container's cgroup unexpectedly frozen"):
        second.create()
    assert all(os.path.isdir(d) for d in directories(first))
    assert first.is_frozen()


def test_a_cgroup_below_a_frozen_parent_is_refused_and_what_was_made_removed(cgroups):
    parent = cgroups.open("pod")
    parent.freeze()
    child = cgroups.track(open_manager(cgroups.path("pod", "new", "c"), "child"))
    with pytest.raises(CgroupError, match="unexpectedly frozen"):
        child.create()
    assert not any(os.path.exists(os.path.dirname(d)) for d in directories(child))  # .../pod/new
    assert all(os.path.isdir(d) for d in directories(parent)) and parent.is_frozen()


def test_remove_made_removes_only_what_create_made(cgroups):
    # What a failed create undoes: its own directories, not an existing empty one it joined.
    existing = cgroups.open("joined")
    joined = cgroups.track(open_manager(cgroups.path("joined"), "other"))
    joined.create()
    joined.remove_made()
    assert all(os.path.isdir(d) for d in directories(existing))
    fresh = cgroups.track(open_manager(cgroups.path("fresh", "c"), "fresh"))
    fresh.create()
    fresh.remove_made()
    assert not any(os.path.exists(os.path.dirname(d)) for d in directories(fresh))


def test_dot_dot_cannot_climb_out(cgroups):
    mgr = open_manager("/../../" + cgroups.path("c").lstrip("/"), "id")
    assert directories(mgr) == expected_absolute(cgroups.path("c"))
    relative = open_manager("../../../escape", "id")
    for directory in directories(relative):
        assert "/../" not in directory and directory.endswith("/escape")


def test_the_root_cgroup_is_refused():
    for path in ("/", "//", "/./"):
        with pytest.raises(CgroupError, match=r"linux\.cgroupsPath: .* names the root cgroup"):
            open_manager(path, "id")


_PLACE_ME = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from pyrunc.cgroups import Manager, open_manager
Manager.from_state(json.loads(sys.argv[2])).add(os.getpid())
print(json.dumps(open_manager(sys.argv[3] or None, sys.argv[4]).to_state()))
"""


def placement_from(holder, cgroups_path: str | None, container_id: str) -> dict:
    """Where a runtime running inside `holder` would put the container."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _PLACE_ME,
            REPO,
            json.dumps(holder.to_state()),
            cgroups_path or "",
            container_id,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


@pytest.mark.parametrize(("cgroups_path", "inner"), [("rel/c1", "rel/c1"), (None, "ctr-id")])
def test_relative_and_absent_paths_follow_the_runtimes_own_cgroup(cgroups, cgroups_path, inner):
    holder = cgroups.open("holder")
    state = placement_from(holder, cgroups_path, "ctr-id")
    top = cgroups.path()
    if is_unified():
        # runc's fs2: below the parent of our own cgroup (ours has processes).
        assert state["path"] == f"{CGROUP_ROOT}{top}/{inner}"
    else:
        # runc's fs: below our own cgroup, in each hierarchy.
        for name, directory in state["paths"].items():
            assert directory == f"{holder.paths[name]}/{inner}", name
    mgr = cgroups.track(Manager.from_state(state))
    mgr.create()
    assert all(os.path.isdir(d) for d in directories(mgr))


def test_state_round_trip_needs_no_probing(cgroups):
    mgr = cgroups.open()
    state = json.loads(json.dumps(mgr.to_state()))
    again = Manager.from_state(state)
    assert again.to_state() == mgr.to_state()
    assert again.exists() and again.pids() == [] and not again.is_frozen()


def test_unknown_state_version_is_refused():
    with pytest.raises(CgroupError, match=r"unknown cgroup state version 7"):
        Manager.from_state({"version": 7})


@pytest.mark.v2only
def test_v2_parents_enable_the_controllers_the_leaf_needs(cgroups):
    mgr = cgroups.open("a", "b")
    available = set(read(f"{CGROUP_ROOT}/cgroup.controllers").split())
    parent = os.path.dirname(mgr.dir)
    assert set(read(f"{parent}/cgroup.subtree_control").split()) == available
    assert {"memory", "pids", "cpu", "cpuset"} <= mgr.controllers()


_HOT_PATH_OPS = """
import os, sys
sys.path.insert(0, sys.argv[1])
state = eval(sys.argv[2])
heavy = {"re", "json", "typing", "enum", "dataclasses", "ctypes", "click", "jsonschema"}
loaded_before = heavy & set(sys.modules)
from pyrunc.cgroups import Manager
mgr = Manager.from_state(state)
mgr.pids(); mgr.is_frozen(); mgr.kill_all(0); mgr.exists(); mgr.destroy()
print(sorted((heavy & set(sys.modules)) - loaded_before))
"""


def test_hot_path_imports_nothing_heavy(cgroups):
    mgr = cgroups.open()
    out = subprocess.run(
        [sys.executable, "-S", "-c", _HOT_PATH_OPS, REPO, repr(mgr.to_state())],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip() == "[]"


def test_containers_sharing_a_parent_can_come_and_go_concurrently(cgroups):
    # Each destroy removes the shared parent when it is the last one out, while
    # the other thread may be creating below it at that very moment.
    errors: list[str] = []

    def churn(name: str) -> None:
        try:
            for i in range(25):
                mgr = open_manager(cgroups.path("shared", f"{name}-{i}"), name)
                mgr.create()
                mgr.destroy()
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=churn, args=(n,)) for n in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
