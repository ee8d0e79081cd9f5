"""Namespaces: created ones differ from the host's, joined ones are the ones given, user and time
namespaces carry their mappings and offsets."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

ALL = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt", "cgroup": "cgroup"}


def ns_link(pid: int | str, name: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{name}")


@pytest.fixture
def holder():
    """A process in fresh network, uts, ipc and pid namespaces whose namespaces tests join."""
    proc = subprocess.Popen(["unshare", "--net", "--uts", "--ipc", "--pid", "--fork", "sleep", "infinity"])
    deadline = time.monotonic() + 10
    child = None
    while child is None and time.monotonic() < deadline:
        try:
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                pids = f.read().split()
            child = int(pids[0]) if pids else None
        except OSError:
            pass
        time.sleep(0.02)
    assert child, "unshare did not fork its child"
    yield child
    os.kill(child, 9)  # pid 1 of its namespace: killing it ends the namespace
    proc.kill()
    proc.wait()


def test_created_namespaces_are_new(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    bundle.config["linux"]["namespaces"] = [{"type": kind} for kind in ALL]
    bundle.write()
    runtime("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    for kind, name in ALL.items():
        assert ns_link(pid, name) != ns_link("self", name), f"{kind} namespace should be new"
    assert ns_link(pid, "user") == ns_link("self", "user"), "no user namespace was asked for"
    runtime("delete", cid)


def test_namespaces_left_out_are_the_hosts(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    bundle.config["linux"]["namespaces"] = [{"type": "mount"}, {"type": "pid"}]
    bundle.config.pop("hostname")
    bundle.write()
    runtime("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    for name in ("net", "ipc", "uts", "cgroup"):
        assert ns_link(pid, name) == ns_link("self", name)
    runtime("delete", cid)


def test_joined_namespaces_are_the_given_ones(runtime, make_bundle, cid, holder):
    """Joining a pid namespace takes the fork-join-fork path: the init is not pid 1 there."""
    bundle = make_bundle(args=["sh", "-c", "echo pid=$$ host=$(hostname); sleep infinity"])
    bundle.config["linux"]["namespaces"] = [
        {"type": "mount"},
        {"type": "network", "path": f"/proc/{holder}/ns/net"},
        {"type": "uts", "path": f"/proc/{holder}/ns/uts"},
        {"type": "ipc", "path": f"/proc/{holder}/ns/ipc"},
        {"type": "pid", "path": f"/proc/{holder}/ns/pid"},
    ]
    bundle.write()
    runtime("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    for name in ("net", "uts", "ipc", "pid"):
        assert ns_link(pid, name) == ns_link(holder, name), f"{name} namespace should be the holder's"
    assert ns_link(pid, "mnt") != ns_link("self", "mnt")
    with open(f"/proc/{pid}/status") as f:
        nspid = next(line for line in f if line.startswith("NSpid:")).split()[1:]
    assert len(nspid) == 2 and int(nspid[1]) > 1, (
        f"init should be a later pid in the joined namespace: {nspid}"
    )
    runtime("start", cid)
    runtime("delete", "--force", cid)


def test_user_namespace_maps_root(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sh", "-c", "id -u; id -g; cat /proc/self/uid_map; hostname; sleep 0"])
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.write()
    out = runtime("run", "--bundle", bundle.path, cid).stdout.split("\n")
    assert out[0] == "0" and out[1] == "0"
    assert out[2].split() == ["0", "100000", "65536"]
    assert out[3] == bundle.config["hostname"]


def test_user_namespace_init_runs_as_mapped_host_uid(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 1000}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 1000}]
    bundle.write()
    runtime("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
    assert uids == ["200000"] * 4
    assert ns_link(pid, "user") != ns_link("self", "user")
    runtime("delete", "--force", cid)


def test_time_namespace_offsets(runtime, make_bundle, cid):
    bundle = make_bundle(args=["cat", "/proc/uptime"])
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"boottime": {"secs": 864000, "nanosecs": 0}}
    bundle.write()
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0])
    inside = float(runtime("run", "--bundle", bundle.path, cid).stdout.split()[0])
    assert inside >= host_uptime + 864000


def test_hostname_and_domainname(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"])
    bundle.config["hostname"] = "box.example"
    bundle.config["domainname"] = "example.org"
    bundle.write()
    assert runtime("run", "--bundle", bundle.path, cid).stdout.split() == ["box.example", "example.org"]
