"""runtime-spec 1.3 fields: linux.memoryPolicy, linux.netDevices, linux.intelRdt's schemata and
enableMonitoring, ociVersion 1.3.0 in the state and the features document.

The memory policy is read from outside (/proc/PID/numa_maps: the policy of the first mapping, which
the task policy governs) and from inside; this host has one NUMA node, node 0. Network devices are
veth pairs the test makes (this kernel has no dummy module), with unique names, deleted whatever
happens."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid

import pytest

from .helpers import create_fails, exec_inside, long_running, proc_status, run_inside, running, userns


def first_mapping(pid: int | str) -> str:
    with open(f"/proc/{pid}/numa_maps") as f:
        return f.readline()


needs_numa = pytest.mark.skipif(
    not os.path.exists("/proc/self/numa_maps"), reason="kernel without CONFIG_NUMA (no numa_maps)"
)


@needs_numa
@pytest.mark.parametrize(
    ("policy", "want"),
    [
        ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "bind=static:0"),
        ({"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0"),
        ({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]}, "prefer=relative:0"),
        ({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}, "prefer (many):0"),
        ({"mode": "MPOL_LOCAL"}, "local"),
    ],
)
def test_memory_policy_is_the_processes_from_its_start(runtime, make_bundle, cid, policy, want):
    bundle = long_running(make_bundle())
    bundle.config["linux"]["memoryPolicy"] = policy
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        assert first_mapping(pid).split(" ", 1)[1].startswith(want)
        assert proc_status(pid)["Mems_allowed_list"] == "0"
        # What the container's process starts inherits it (set_mempolicy survives fork and exec);
        # exec'd processes take it from the config too.
        inside = exec_inside(runtime, cid, "head -n1 /proc/self/numa_maps").stdout
    assert inside.split(" ", 1)[1].startswith(want)


@needs_numa
def test_default_memory_policy_is_the_hosts(runtime, make_bundle, cid):
    bundle = make_bundle()
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_DEFAULT"}
    line = run_inside(runtime, bundle, cid, "head -n1 /proc/self/numa_maps")
    assert line.split(" ", 1)[1].startswith("default ")


def test_a_memory_policy_the_kernel_refuses_is_named(runtime, make_bundle, cid):
    """Node 5 does not exist here: the kernel's EINVAL comes back naming the field and the nodes."""
    bundle = make_bundle()
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "5"}
    create_fails(runtime, bundle, cid, "linux.memoryPolicy (MPOL_BIND, nodes 5)", "invalid argument")


@pytest.mark.parametrize(
    ("policy", "where", "problem"),
    [
        ({"mode": "MPOL_BIND"}, "linux.memoryPolicy.nodes", "needs at least one memory node"),
        ({"mode": "MPOL_DEFAULT", "nodes": "0"}, "linux.memoryPolicy.nodes", "takes no memory nodes"),
        ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NOPE"]}, "linux.memoryPolicy.flags[0]", ""),
        ({"mode": "MPOL_SOMETIMES", "nodes": "0"}, "linux.memoryPolicy.mode", "MPOL_BIND"),
        ({"mode": "MPOL_BIND", "nodes": "4096"}, "linux.memoryPolicy.nodes", "past 4095"),
    ],
)
def test_a_bad_memory_policy_is_refused_in_one_line(runtime, make_bundle, cid, policy, where, problem):
    bundle = make_bundle()
    bundle.config["linux"]["memoryPolicy"] = policy
    create_fails(runtime, bundle, cid, where, problem)


# --------------------------------------------------------------------------------------------------
# linux.netDevices


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def link_exists(name: str) -> bool:
    return ip("link", "show", "dev", name, check=False).returncode == 0


@pytest.fixture
def veth():
    """make() -> (name, peer): a veth pair with unique names on the host, deleted after the test
    if it is still there (a pair moved into a container's namespace dies with the namespace)."""
    made: list[str] = []

    def make(address: str | None = None, up: bool = True) -> tuple[str, str]:
        tag = uuid.uuid4().hex[:8]
        name, peer = f"pr{tag}a", f"pr{tag}b"
        ip("link", "add", name, "type", "veth", "peer", "name", peer)
        made.append(name)
        if address:
            ip("address", "add", address, "dev", name)
        if up:
            ip("link", "set", name, "up")
        return name, peer

    yield make
    for name in made:
        with contextlib.suppress(subprocess.SubprocessError):
            ip("link", "del", name, check=False)


def container_links(pid: int) -> dict[str, dict]:
    out = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "address", "show"],
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    ).stdout
    return {link["ifname"]: link for link in json.loads(out)}


def test_net_device_is_moved_renamed_up_and_keeps_its_global_address(runtime, make_bundle, cid, veth):
    name, peer = veth(address="10.213.7.1/24")
    ip("address", "add", "127.0.0.77/8", "dev", name)  # host scope: the spec says it stays behind
    bundle = long_running(make_bundle())
    bundle.config["linux"]["netDevices"] = {name: {"name": "ctr0"}}
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        assert not link_exists(name), "the interface left the host's namespace"
        links = container_links(pid)
        assert "ctr0" in links, links.keys()
        assert "UP" in links["ctr0"]["flags"]
        addresses = {(a["local"], a["prefixlen"]) for a in links["ctr0"]["addr_info"]}
        assert ("10.213.7.1", 24) in addresses
        assert ("127.0.0.77", 8) not in addresses
        assert "ctr0" in exec_inside(runtime, cid, "cat /proc/net/dev").stdout
    # Delete does not move it back (the spec: the namespace's owner decides); the namespace is gone
    # and a veth dies with it, taking its peer along.
    assert not link_exists(name) and not link_exists(peer)


def test_net_device_into_a_user_namespaced_container(runtime, make_bundle, cid, veth):
    """The new network namespace belongs to the container's user namespace; the runtime, root in
    the host's, still moves the interface in and configures it there."""
    name, _ = veth(address="10.213.9.1/24")
    bundle = userns(make_bundle(args=["sleep", "infinity"]), size=1000)
    bundle.config["linux"]["netDevices"] = {name: {"name": "uns0"}}
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        link = container_links(pid)["uns0"]
    assert "UP" in link["flags"] and link["addr_info"][0]["local"] == "10.213.9.1"


def test_net_device_template_name_takes_a_free_number(runtime, make_bundle, cid, veth):
    first, _ = veth()
    second, _ = veth()
    bundle = long_running(make_bundle())
    bundle.config["linux"]["netDevices"] = {first: {"name": "net%d"}, second: {"name": "net%d"}}
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        links = container_links(pid)
    assert {"net0", "net1"} <= set(links), links.keys()


def test_net_device_without_a_name_keeps_the_host_name(runtime, make_bundle, cid, veth):
    name, _ = veth()
    bundle = long_running(make_bundle())
    bundle.config["linux"]["netDevices"] = {name: {}}
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        assert name in container_links(pid)


def test_net_device_name_taken_in_the_container_fails_and_moves_nothing(runtime, make_bundle, cid, veth):
    """The second entry cannot be named lo: create fails, and the first one, already moved, comes
    back to the host under its own name with its address."""
    first, _ = veth(address="10.213.8.1/24")
    second, _ = veth()
    bundle = make_bundle()
    bundle.config["linux"]["netDevices"] = {first: {"name": "eth0"}, second: {"name": "lo"}}
    create_fails(
        runtime,
        bundle,
        cid,
        f"linux.netDevices['{second}']",
        "'lo' already exists in the container's network namespace",
    )
    assert link_exists(first) and link_exists(second)
    assert "10.213.8.1/24" in ip("-br", "address", "show", "dev", first).stdout


def test_a_missing_host_interface_is_named(runtime, make_bundle, cid):
    bundle = make_bundle()
    missing = f"pr{uuid.uuid4().hex[:8]}x"
    bundle.config["linux"]["netDevices"] = {missing: {}}
    create_fails(runtime, bundle, cid, f"linux.netDevices['{missing}']", missing)


def test_net_devices_need_a_network_namespace(runtime, make_bundle, cid, veth):
    name, _ = veth()
    bundle = make_bundle()
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "network"
    ]
    bundle.config["linux"]["netDevices"] = {name: {}}
    create_fails(runtime, bundle, cid, "linux.netDevices", "network namespace")
    assert link_exists(name)


def test_net_device_into_a_joined_namespace_stays_there_after_delete(runtime, make_bundle, cid, veth):
    """With a namespace the container joins, the interface belongs to that namespace's owner: it is
    still there after delete (runc does the same)."""
    name, _ = veth()
    holder = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    try:
        netns = f"/proc/{holder.pid}/ns/net"
        for _ in range(200):  # unshare has run once the namespace differs from ours
            if os.readlink(netns) != os.readlink("/proc/self/ns/net"):
                break
            os.sched_yield()
        bundle = long_running(make_bundle())
        for ns in bundle.config["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = netns
        bundle.config["linux"]["netDevices"] = {name: {"name": "joined0"}}
        bundle.write()
        with running(runtime, bundle, cid):
            pass
        assert "joined0" in container_links(holder.pid)
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------------------------------------
# intelRdt, ociVersion, features


@pytest.mark.parametrize(
    ("rdt", "where"),
    [
        ({"schemata": ["L3:0=ff"]}, "linux.intelRdt.schemata"),
        ({"enableMonitoring": True}, "linux.intelRdt.enableMonitoring"),
        ({"closID": "c1", "schemata": ["MB:0=50"]}, "linux.intelRdt.closID"),
    ],
)
def test_intel_rdt_is_refused_naming_the_field(runtime, make_bundle, cid, rdt, where):
    if os.path.isdir("/sys/fs/resctrl/info"):
        pytest.skip("this host has resctrl")
    bundle = make_bundle()
    bundle.config["linux"]["intelRdt"] = rdt
    create_fails(runtime, bundle, cid, where, "Intel RDT (resctrl) is not enabled")


def test_state_says_the_runtimes_spec_version(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    bundle.config["ociVersion"] = "1.0.2"
    bundle.write()
    with running(runtime, bundle, cid, start=False):
        assert runtime.state(cid)["ociVersion"] == "1.3.0"


def test_features_reports_the_13_fields(runtime):
    doc = json.loads(runtime("features").stdout)
    linux = doc["linux"]
    assert doc["ociVersionMax"] == "1.3.0"
    assert linux["netDevices"] == {"enabled": True}
    assert linux["intelRdt"] == {"enabled": False, "schemata": False, "monitoring": False}
    assert set(linux["memoryPolicy"]["modes"]) == {
        "MPOL_DEFAULT",
        "MPOL_BIND",
        "MPOL_INTERLEAVE",
        "MPOL_WEIGHTED_INTERLEAVE",
        "MPOL_PREFERRED",
        "MPOL_PREFERRED_MANY",
        "MPOL_LOCAL",
    }
    assert set(linux["memoryPolicy"]["flags"]) == {
        "MPOL_F_NUMA_BALANCING",
        "MPOL_F_RELATIVE_NODES",
        "MPOL_F_STATIC_NODES",
    }
    assert linux["mountExtensions"] == {"idmap": {"enabled": True}}
    assert doc["potentiallyUnsafeConfigAnnotations"] == ["org.systemd.property."]
