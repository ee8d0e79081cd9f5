"""config-linux.md Devices (linux.devices and the default devices) and the device cgroup rules."""

from __future__ import annotations

import os
import stat

from .. import config as cfgmod
from ..ctx import Ctx, errno_of
from ..registry import case

CHECK = cfgmod.CHECKER
DEFAULTS = {
    "null": (1, 3),
    "zero": (1, 5),
    "full": (1, 7),
    "random": (1, 8),
    "urandom": (1, 9),
    "tty": (5, 0),
}


@case("devices/default-nodes", spec="config-linux.md Default Devices: null, zero, full, random, urandom, tty")
def default_nodes(t: Ctx) -> None:
    args = [CHECK]
    for name in DEFAULTS:
        args += ["stat", f"/dev/{name}"]
    r = t.run_report(t.bundle(args))
    for name, (major, minor) in DEFAULTS.items():
        fields = (r.get(f"stat:/dev/{name}") or "err").split(":")
        t.check(len(fields) == 6, f"/dev/{name} is missing: {r.get(f'stat:/dev/{name}')}")
        t.eq(
            (fields[0], int(fields[4]), int(fields[5])),
            ("c", major, minor),
            f"/dev/{name} type and major:minor",
        )


@case(
    "devices/default-usable",
    spec="config-linux.md Default Devices: supplied (usable) even with deny-all rules",
)
def default_usable(t: Ctx) -> None:
    args = [
        CHECK,
        "open",
        "/dev/null",
        "rw",
        "read",
        "/dev/zero",
        "open",
        "/dev/full",
        "rw",
        "open",
        "/dev/random",
        "r",
        "open",
        "/dev/urandom",
        "r",
    ]
    r = t.run_report(t.bundle(args))
    for key in ("open:/dev/null", "open:/dev/full", "open:/dev/random", "open:/dev/urandom"):
        t.eq(r.get(key), "ok", key)
    t.check(
        (r.get("read:/dev/zero") or "").startswith("ok:"), f"reading /dev/zero: {r.get('read:/dev/zero')}"
    )


@case(
    "devices/ptmx",
    spec="config-linux.md Default Devices: /dev/ptmx, a bind mount or symlink of /dev/pts/ptmx",
)
def ptmx(t: Ctx) -> None:
    r = t.run_report(t.bundle([CHECK, "stat", "/dev/ptmx", "open", "/dev/ptmx", "rw"]))
    kind = (r.get("stat:/dev/ptmx") or "err").split(":")[0]
    t.check(kind in ("l", "c"), f"/dev/ptmx is {r.get('stat:/dev/ptmx')!r}, want a symlink or char device")
    t.eq(r.get("open:/dev/ptmx"), "ok", "opening /dev/ptmx")


@case("devices/linux-devices-char", spec="config-linux.md devices: type c, major, minor, fileMode, uid, gid")
def linux_devices_char(t: Ctx) -> None:
    b = t.bundle([CHECK, "stat", "/dev/oci-char"])
    b.linux["devices"] = [
        {
            "path": "/dev/oci-char",
            "type": "c",
            "major": 1,
            "minor": 3,
            "fileMode": 0o620,
            "uid": 1000,
            "gid": 1001,
        }
    ]
    r = t.run_report(b)
    t.eq(r.get("stat:/dev/oci-char"), "c:0620:1000:1001:1:3", "type:mode:uid:gid:major:minor")


@case("devices/linux-devices-block", spec="config-linux.md devices: type b")
def linux_devices_block(t: Ctx) -> None:
    b = t.bundle([CHECK, "stat", "/dev/oci-block"])
    b.linux["devices"] = [{"path": "/dev/oci-block", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600}]
    r = t.run_report(b)
    t.eq(r.get("stat:/dev/oci-block"), "b:0600:0:0:7:0", "type:mode:uid:gid:major:minor")


@case("devices/linux-devices-fifo", spec="config-linux.md devices: type p needs no major/minor")
def linux_devices_fifo(t: Ctx) -> None:
    b = t.bundle([CHECK, "stat", "/dev/oci-fifo"])
    b.linux["devices"] = [{"path": "/dev/oci-fifo", "type": "p", "fileMode": 0o644}]
    r = t.run_report(b)
    t.eq((r.get("stat:/dev/oci-fifo") or "").split(":")[:2], ["p", "0644"], "type and mode")


@case(
    "devices/linux-devices-nested-path",
    spec="config-linux.md devices: path is the full path inside the container",
)
def linux_devices_nested(t: Ctx) -> None:
    b = t.bundle([CHECK, "stat", "/dev/oci/sub/node"])
    b.linux["devices"] = [
        {"path": "/dev/oci/sub/node", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666}
    ]
    r = t.run_report(b)
    t.eq(
        (r.get("stat:/dev/oci/sub/node") or "").split(":")[0],
        "c",
        "a device in a directory that did not exist",
    )


@case(
    "devices/cgroup-rules",
    needs=("devices_cg",),
    spec="config-linux.md resources.devices: allow/deny in order",
)
def cgroup_rules(t: Ctx) -> None:
    """Major 240 is for local use: an allowed open fails with ENXIO (no driver), a denied one with EPERM."""
    b = t.bundle([CHECK, "open", "/dev/oci-allowed", "r", "open", "/dev/oci-denied", "r", "pause"])
    b.linux["devices"] = [
        {"path": "/dev/oci-allowed", "type": "c", "major": 240, "minor": 7, "fileMode": 0o666},
        {"path": "/dev/oci-denied", "type": "c", "major": 240, "minor": 8, "fileMode": 0o666},
    ]
    b.linux["resources"]["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 240, "minor": 7, "access": "rw"},
    ]
    b.linux["cgroupsPath"] = t.cgroup_path("dev")
    c = t.create(b)
    c.start()
    c.wait_for_key("open:/dev/oci-denied")
    r = c.output()
    t.check(errno_of(r.get("open:/dev/oci-allowed")) != "EPERM", "the allowed device c 240:7 was denied")
    t.eq(errno_of(r.get("open:/dev/oci-denied")), "EPERM", "opening the device c 240:8 that no rule allows")
    rules = t.cgroup_read("devices", c.pid, "devices.list").splitlines()
    t.check("a *:* rwm" not in rules, "devices.list still allows everything")
    t.check("c 240:7 rw" in rules, f"devices.list {rules} lacks the allowed rule c 240:7 rw")


@case(
    "devices/no-host-console",
    needs=("devices_cg",),
    spec="config-linux.md resources.devices: the runtime's defaults grant no more than a container needs",
)
def no_host_console(t: Ctx) -> None:
    """A rootfs may ship a node of the host's console (c 5:1; no CAP_MKNOD needed to use it).
    Under deny-all rules, opening it must fail with EPERM: runc's default rules leave 5:1 out (the
    container's /dev/console is its own pty). O_NOCTTY, read-only: nothing reaches the console even
    on a runtime that allows it."""
    b = t.bundle([CHECK, "open", "/hostconsole", "r"])
    os.mknod(os.path.join(b.rootfs, "hostconsole"), 0o600 | stat.S_IFCHR, os.makedev(5, 1))
    r = t.run_report(b)
    t.eq(errno_of(r.get("open:/hostconsole")), "EPERM", "opening a c 5:1 node from the rootfs")


@case(
    "devices/cgroup-rules-order",
    needs=("devices_cg",),
    spec="config-linux.md resources.devices: the runtime MUST apply entries in the listed order",
)
def cgroup_rules_order(t: Ctx) -> None:
    """The v1 kernel lists devices.list entries in the order they were written: after the deny-all,
    the config's allow rules come first and in the config's order (a runtime's own defaults may
    follow)."""
    b = t.bundle(["sleep", "300"])
    b.linux["resources"]["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 240, "minor": 9, "access": "r"},
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rw"},
        {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "r"},
    ]
    b.linux["cgroupsPath"] = t.cgroup_path("order")
    c = t.create(b)
    rules = t.cgroup_read("devices", c.pid, "devices.list").splitlines()
    t.eq(rules[:3], ["c 240:9 r", "c 1:11 rw", "b 7:0 r"], "the first entries of devices.list")
