"""runtime-spec 1.3: linux.netDevices, linux.memoryPolicy, linux.intelRdt's new fields, the state's
ociVersion and the features document's new fields.

Network devices are veth pairs the case makes with unique names (recorded in the manifest, so the
harness removes them even if the case dies); what the container got is read from the host with
nsenter into the init's network namespace. The memory policy is read from /proc/PID/numa_maps."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess

from .. import config as cfgmod
from ..ctx import Ctx
from ..registry import case

NETDEV = "config-linux.md Network Devices (1.3)"
MEMPOLICY = "config-linux.md Memory Policy (1.3)"


def _ip(*args: str, netns_pid: int = 0) -> subprocess.CompletedProcess:
    argv = ["ip", *args]
    if netns_pid:
        argv = ["nsenter", f"--net=/proc/{netns_pid}/ns/net", "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=15)


def _links(netns_pid: int = 0) -> dict[str, dict]:
    res = _ip("-j", "address", "show", netns_pid=netns_pid)
    return {link["ifname"]: link for link in json.loads(res.stdout or "[]")}


@contextlib.contextmanager
def _veths(t: Ctx, count: int = 1, address: str | None = None):
    """count veth pairs on the host, yielded as the list of the names to move; the peers stay."""
    names = []
    try:
        for i in range(count):
            name = f"oc{t.token[-7:]}{i}"
            t.record("netdev", name)
            made = _ip("link", "add", name, "type", "veth", "peer", "name", name + "p")
            t.check(made.returncode == 0, f"cannot make the veth pair {name}: {made.stderr.strip()}")
            names.append(name)
            if address and i == 0:
                _ip("address", "add", address, "dev", name)
            _ip("link", "set", name, "up")
        yield names
    finally:
        for name in names:
            if os.path.exists(f"/sys/class/net/{name}"):
                _ip("link", "del", name)


def _on_host(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


@case("netdevices/moved-renamed-and-up", needs=("veth",), spec=f"{NETDEV}: moved, name, state up")
def moved_renamed(t: Ctx) -> None:
    with _veths(t, address="10.213.99.1/24") as (name,):
        b = t.bundle(["sleep", "300"])
        b.linux["netDevices"] = {name: {"name": "oc0"}}
        c = t.create(b)
        links = _links(c.pid)
        t.check("oc0" in links, f"no oc0 in the container's network namespace: {sorted(links)}")
        t.check(not _on_host(name), f"{name} is still in the host's network namespace")
        t.check("UP" in links["oc0"]["flags"], f"oc0 is not up: {links['oc0']['flags']}")


@case(
    "netdevices/global-address-kept",
    needs=("veth",),
    spec=f"{NETDEV}: permanent global-scope addresses are preserved",
)
def global_address_kept(t: Ctx) -> None:
    with _veths(t, address="10.213.99.1/24") as (name,):
        b = t.bundle(["sleep", "300"])
        b.linux["netDevices"] = {name: {}}
        c = t.create(b)
        link = _links(c.pid).get(name)
        t.check(link is not None, f"{name} is not in the container's network namespace")
        kept = [(a["local"], a["prefixlen"]) for a in link.get("addr_info", [])]
        t.check(("10.213.99.1", 24) in kept, f"the address 10.213.99.1/24 was not kept: {kept}")


@case("netdevices/name-template", needs=("veth",), spec=f"{NETDEV}: a %d template takes a free number")
def name_template(t: Ctx) -> None:
    with _veths(t, count=2) as names:
        b = t.bundle(["sleep", "300"])
        b.linux["netDevices"] = {name: {"name": "ocnet%d"} for name in names}
        c = t.create(b)
        links = _links(c.pid)
        t.check({"ocnet0", "ocnet1"} <= set(links), f"want ocnet0 and ocnet1, got {sorted(links)}")


@case(
    "netdevices/name-taken-refused",
    needs=("veth",),
    spec=f"{NETDEV}: a name that exists in the container namespace MUST be an error",
)
def name_taken(t: Ctx) -> None:
    with _veths(t) as (name,):
        b = t.bundle(["true"])
        b.linux["netDevices"] = {name: {"name": "lo"}}
        t.refuse(b, "a network device renamed to lo, which the new namespace has")
        t.check(_on_host(name), f"{name} is gone from the host after the failed create")


@case(
    "netdevices/missing-host-device-refused",
    needs=("veth",),
    spec=f"{NETDEV}: the runtime MUST check the move is possible",
)
def missing_device(t: Ctx) -> None:
    b = t.bundle(["true"])
    b.linux["netDevices"] = {f"oc{t.token[-7:]}x": {}}
    t.refuse(b, "a network device the host does not have")


@case(
    "netdevices/without-netns-refused",
    needs=("veth",),
    spec=f"{NETDEV}: devices go into the container's network namespace (runc: none, none to move)",
)
def without_netns(t: Ctx) -> None:
    with _veths(t) as (name,):
        b = t.bundle(["true"])
        cfgmod.drop_namespace(b.config, "network")
        b.config["mounts"] = [m for m in b.config["mounts"] if m["destination"] != "/sys"]
        b.linux["netDevices"] = {name: {}}
        t.refuse(b, "network devices without a network namespace")
        t.check(_on_host(name), f"{name} left the host's namespace")


@case(
    "netdevices/joined-netns-keeps-device",
    needs=("veth",),
    spec=f"{NETDEV}: the runtime MUST NOT move the interface out of the namespace on delete",
)
def joined_netns(t: Ctx) -> None:
    with _veths(t) as (name,):
        holder = subprocess.Popen(["unshare", "--net", "sleep", "300"])
        try:
            netns = f"/proc/{holder.pid}/ns/net"
            for _ in range(1000):
                if os.readlink(netns) != os.readlink("/proc/self/ns/net"):
                    break
                os.sched_yield()
            b = t.bundle(["sleep", "300"])
            cfgmod.set_namespace(b.config, "network", netns)
            b.linux["netDevices"] = {name: {"name": "ocj0"}}
            c = t.create(b)
            c.delete(force=True)
            t.check("ocj0" in _links(holder.pid), "the device left the joined namespace on delete")
        finally:
            holder.kill()
            holder.wait()


def _numa_policy(pid: int) -> str:
    with open(f"/proc/{pid}/numa_maps") as f:
        return f.readline().split(" ", 1)[1]


def _memory_policy_case(label: str, policy: dict, want: str) -> None:
    @case(f"memorypolicy/{label}", needs=("numa",), spec=f"{MEMPOLICY}: {policy['mode']}")
    def check(t: Ctx) -> None:
        b = t.bundle(["sleep", "300"])
        b.linux["memoryPolicy"] = policy
        c = t.create(b)
        c.start()
        got = _numa_policy(c.pid)
        t.check(got.startswith(want), f"numa_maps policy {got.split(' ')[0]!r}, want {want!r}")


_memory_policy_case(
    "bind-static", {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "bind=static:0"
)
_memory_policy_case("interleave", {"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0")
_memory_policy_case(
    "preferred-relative",
    {"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]},
    "prefer=relative:0",
)
_memory_policy_case("local", {"mode": "MPOL_LOCAL"}, "local")
_memory_policy_case("default", {"mode": "MPOL_DEFAULT"}, "default")


def _memory_policy_refused(label: str, policy: dict, what: str) -> None:
    @case(f"memorypolicy/{label}-refused", needs=("numa",), spec=f"{MEMPOLICY}: {what} is an error")
    def check(t: Ctx) -> None:
        b = t.bundle(["true"])
        b.linux["memoryPolicy"] = policy
        t.refuse(b, what)


_memory_policy_refused("unknown-mode", {"mode": "MPOL_SOMETIMES", "nodes": "0"}, "an unknown mode")


@case(
    "memorypolicy/absent-node-refused",
    needs=("numa",),
    spec=f"{MEMPOLICY}: a node the host lacks is an error",
)
def absent_node(t: Ctx) -> None:
    last = max(int(n) for item in t.host.mems.split(",") for n in item.split("-"))
    b = t.bundle(["true"])
    b.linux["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": str(last + 1)}
    t.refuse(b, f"MPOL_BIND to node {last + 1}, which this host lacks")


_memory_policy_refused(
    "static-and-relative",
    {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]},
    "MPOL_F_STATIC_NODES with MPOL_F_RELATIVE_NODES",
)


def _intel_rdt_refused(label: str, rdt: dict) -> None:
    @case(
        f"intelrdt/{label}-refused-without-resctrl",
        needs=("no_resctrl",),
        spec="config-linux.md IntelRdt: without resctrl the runtime MUST generate an error",
    )
    def check(t: Ctx) -> None:
        b = t.bundle(["true"])
        b.linux["intelRdt"] = rdt
        res = t.refuse(b, f"linux.intelRdt {json.dumps(rdt)} on a host without resctrl")
        said = (res.err + res.out).lower()
        t.check(
            "rdt" in said or "resctrl" in said, f"the error does not name Intel RDT: {said.strip()[-200:]!r}"
        )


_intel_rdt_refused("schemata", {"schemata": ["L3:0=ff"]})
_intel_rdt_refused("enable-monitoring", {"enableMonitoring": True})


@case(
    "state/oci-version-is-the-runtimes",
    spec="runtime.md State: ociVersion is the version of the spec the state complies with",
)
def state_oci_version(t: Ctx) -> None:
    feats = t.rt("features")
    if not feats.ok:
        t.fail(f"features failed, so the runtime's spec version is unknown: {feats.brief()}")
    b = t.bundle(["sleep", "300"])
    b.config["ociVersion"] = "1.0.0"
    c = t.create(b)
    st = c.state() or {}
    t.eq(st.get("ociVersion"), json.loads(feats.out).get("ociVersionMax"), "state ociVersion")


@case("compat/features-runtime-spec-1.3", spec="features-linux.md: the fields runtime-spec 1.3 added")
def features_13(t: Ctx) -> None:
    res = t.rt("features")
    t.check(res.ok, f"features failed: {res.brief()}")
    doc = json.loads(res.out)
    linux = doc.get("linux") or {}
    missing = [
        field
        for field, present in (
            ("linux.netDevices.enabled", isinstance((linux.get("netDevices") or {}).get("enabled"), bool)),
            ("linux.memoryPolicy.modes", isinstance((linux.get("memoryPolicy") or {}).get("modes"), list)),
            ("linux.memoryPolicy.flags", isinstance((linux.get("memoryPolicy") or {}).get("flags"), list)),
            ("linux.intelRdt.schemata", isinstance((linux.get("intelRdt") or {}).get("schemata"), bool)),
            ("linux.intelRdt.monitoring", isinstance((linux.get("intelRdt") or {}).get("monitoring"), bool)),
            (
                "linux.mountExtensions.idmap",
                isinstance((linux.get("mountExtensions") or {}).get("idmap"), dict),
            ),
            (
                "potentiallyUnsafeConfigAnnotations",
                isinstance(doc.get("potentiallyUnsafeConfigAnnotations"), list),
            ),
        )
        if not present
    ]
    t.check(not missing, f"features lacks {', '.join(missing)}")
