"""The plan's wire format has one description, pyrunc/csrc/common.h: its tags, the payload layout
in each tag's comment, and the SYNC_* codes. Pure: plan.py's records for a config that uses every
tag are decoded by the header's layouts and must fill their payloads exactly, and the numbers in
plan.py and container/launch.py must be the header's."""

from __future__ import annotations

import os
import re
import struct

import pytest

from pyrunc import mounts, plan
from pyrunc.container import launch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = os.path.join(REPO, "pyrunc", "csrc", "common.h")
FIXED = {"u32": "<I", "i32": "<i", "u64": "<Q"}
# Records made outside plan.py, by the verbs, from plan.record and plan.u32 (see their modules).
ELSEWHERE = {
    "T_EXEC": plan.record(plan.T_EXEC),  # container/exec.py
    "T_HOOK_STATE": plan.record(plan.T_HOOK_STATE, b'{"status":"created"}'),  # container/create.py
}


def _header() -> str:
    with open(HEADER) as f:
        return f.read()


def _enum(name: str) -> str:
    return re.search(rf"enum {name} \{{(.*?)\n\}};", _header(), re.S).group(1)


def header_layouts() -> dict[str, tuple[int, list[str]]]:
    """T_NAME -> (number, its fields) from the comments of enum plan_tag."""
    out = {}
    for name, number, comment in re.findall(r"\b(T_[A-Z_]+) = (\d+),\s*/\*(.*?)\*/", _enum("plan_tag"), re.S):
        layout = " ".join(comment.split()).split(" -- ")[0].strip()
        out[name] = (int(number), [] if layout == "-" else [f.strip() for f in layout.split(",")])
    return out


def header_sync_codes() -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r"\b(SYNC_[A-Z_]+) = (\d+),", _enum("sync_type"))}


def decode(payload: bytes, fields: list[str]) -> dict:
    """Read `payload` by the header's layout; fails unless it is consumed exactly."""
    values: dict = {}
    pos = 0
    for field in fields:
        kind, name = field.split(" ", 1)
        count = 1
        repeated = re.fullmatch(r"(\w+)\[(\w+)\]", name)
        if repeated:
            name, count = repeated.group(1), values[repeated.group(2)]
        if name.endswith("..."):
            values[name[:-3]], pos = payload[pos:], len(payload)
        elif kind == "bytes":
            values[name], pos = payload[pos : pos + count], pos + count
        elif kind == "str":
            items = []
            for _ in range(count):
                end = payload.index(b"\0", pos)
                items.append(payload[pos:end].decode())
                pos = end + 1
            values[name] = items if repeated else items[0]
        else:
            fmt = FIXED[kind]
            size = struct.calcsize(fmt)
            items = [struct.unpack_from(fmt, payload, pos + i * size)[0] for i in range(count)]
            pos += count * size
            values[name] = items if repeated else items[0]
        assert pos <= len(payload), (fields, field, payload)
    assert pos == len(payload), f"{fields}: {len(payload) - pos} bytes left over in {payload!r}"
    return values


def records(data: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        tag, length = struct.unpack_from("<II", data, pos)
        out.append((tag, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length
    assert pos == len(data)
    return out


class _Program:
    flags = plan.SECCOMP_FILTER_FLAG_NEW_LISTENER
    bpf = bytes(8 * 3)


def full_plan(bundle: str) -> bytes:
    """plan.py's records for a config that sets everything they encode."""
    config = {
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "h",
        "domainname": "d",
        "process": {
            "args": ["sh", "-c", "true"],
            "env": ["A=1", "B=2"],
            "cwd": "/work",
            "user": {"uid": 1, "gid": 2, "umask": 0o077, "additionalGids": [3, 4]},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
            "noNewPrivileges": True,
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
            "oomScoreAdj": -5,
            "scheduler": {"policy": "SCHED_BATCH", "nice": -1, "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
            "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 3},
            "execCPUAffinity": {"initial": "0", "final": "0-1"},
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/ro", "type": "bind", "source": bundle, "options": ["rbind", "ro"]},
        ],
        "hooks": {
            "prestart": [{"path": "/bin/true"}],
            "createContainer": [{"path": "/bin/true", "args": ["true", "x"], "env": ["E=1"], "timeout": 3}],
            "startContainer": [{"path": "/bin/true"}],
        },
        "linux": {
            "namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "ipc", "path": "/proc/1/ns/ipc"}],
            "rootfsPropagation": "private",
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"],
            "sysctl": {"kernel.msgmax": "8192"},
            "personality": {"domain": "LINUX"},
            "memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]},
        },
    }
    process, linux = config["process"], config["linux"]
    host = host_facts(os.path.join(bundle, "rootfs"))
    built = plan.build(config, bundle, host, no_pivot=True, preserve_fds=2)
    parts = built.records
    parts += plan.console_size_records({"consoleSize": {"height": 24, "width": 80}})
    parts.append(plan.cpu_affinity_record(process["execCPUAffinity"]))
    parts.append(plan.seccomp_record(_Program()))
    parts.append(plan.Fds(3, 4, 5).encode())
    linux["timeOffsets"] = {"monotonic": {"secs": 1}}
    parts += plan.child_records(config, bundle, host_facts(bundle), built.namespaces, no_pivot=False)
    linux["namespaces"] = [{"type": "uts"}]  # no mount namespace: T_CHROOT
    parts += plan.child_records(config, bundle, host_facts(bundle), plan.Namespaces(config), no_pivot=False)
    return b"".join(parts) + b"".join(ELSEWHERE.values())


def host_facts(rootfs: str) -> plan.HostFacts:
    """A host where every capability can be granted; bind sources are looked at for real."""
    return plan.HostFacts(
        rootfs, kcore=True, in_userns=False, ungrantable_caps=0, bind_source_kind=mounts.bind_source_kind
    )


def test_tags_and_sync_codes_are_the_headers():
    layouts = header_layouts()
    assert {name: getattr(plan, name) for name in dir(plan) if name.startswith("T_")} == {
        name: number for name, (number, _fields) in layouts.items()
    }
    python = {name: getattr(launch, name) for name in dir(launch) if name.startswith("SYNC_")}
    assert python == header_sync_codes()


def test_every_record_fills_the_layout_the_header_gives(tmp_path):
    os.mkdir(tmp_path / "rootfs")
    by_number = {number: (name, fields) for name, (number, fields) in header_layouts().items()}
    seen = set()
    for tag, payload in records(full_plan(str(tmp_path))):
        name, fields = by_number[tag]
        decode(payload, fields)
        seen.add(name)
    assert seen == set(header_layouts()), f"no record made for {set(header_layouts()) - seen}"


def test_a_layout_mismatch_is_caught():
    with pytest.raises(AssertionError, match="left over"):
        decode(plan.u32(1) + plan.u32(2), ["u32 only"])
    assert decode(plan.u32(2) + b"a\0b\0", ["u32 n", "str s[n]"]) == {"n": 2, "s": ["a", "b"]}


def _cgroup_records(hierarchies, *, cgroupns: bool, userns: bool) -> list[mounts.MountRecord]:
    from pyrunc.cgroups.mount_plan import cgroup_mounts

    mount = {"destination": "/sys/fs/cgroup", "type": "cgroup", "options": ["nosuid", "ro"]}
    return cgroup_mounts(
        mount,
        0,
        private_cgroupns=cgroupns,
        userns=userns,
        cgroup_dirs=["/sys/fs/cgroup/user.slice/c.scope", "/sys/fs/cgroup/unified/user.slice/c.scope"],
        hierarchies=hierarchies,
    )


def test_a_fresh_cgroup2_mount_carries_the_containers_cgroup_as_its_fallback():
    """T_MOUNT's `fallback`: what the child binds when the kernel refuses a fresh cgroup2 (EPERM,
    or EBUSY over the host's hierarchy that a rootless /sys bind brings in), as runc does."""
    fields = header_layouts()["T_MOUNT"][1]
    v2 = [("/sys/fs/cgroup", "cgroup2", "nsdelegate")]
    (fresh,) = _cgroup_records(v2, cgroupns=True, userns=True)
    decoded = decode(records(plan.mount_record(fresh))[0][1], fields)
    assert (decoded["fstype"], decoded["kind"]) == ("cgroup2", mounts.MOUNT_REGULAR)
    assert decoded["fallback"] == "/sys/fs/cgroup/user.slice/c.scope"
    # Without a cgroup namespace the container's cgroup is bound in the first place.
    (bound,) = _cgroup_records(v2, cgroupns=False, userns=True)
    assert bound.kind == mounts.MOUNT_BIND and bound.fallback == ""
    # Hybrid: the cgroup2 under the tmpfs has its fallback; v1 hierarchies (root, fresh) none.
    hybrid = [("/sys/fs/cgroup/unified", "cgroup2", "nsdelegate"), ("/sys/fs/cgroup/pids", "cgroup", "pids")]
    by_dest = {r.dest: r for r in _cgroup_records(hybrid, cgroupns=True, userns=False)}
    assert by_dest["sys/fs/cgroup/unified"].fallback == "/sys/fs/cgroup/unified/user.slice/c.scope"
    assert by_dest["sys/fs/cgroup/pids"].fstype == "cgroup" and by_dest["sys/fs/cgroup/pids"].fallback == ""
