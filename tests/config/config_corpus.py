"""The corpus of good and bad config.json files under tests/config/corpus/, and how it is made.

    .venv/bin/python tests/config/config_corpus.py      # rewrite corpus/ from the tables below

The files are plain configs, so other tools (the official schema, runc, crun) can read them;
corpus/expected.json records for every bad file the `where` and a piece of the `problem` that
pyrunc.config.validate must report, and whether the schema or the semantic checks catch it.
test_config_validate.py checks that the files on disk are what this script writes.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

from pyrunc.config.spec import default_spec

CORPUS = Path(__file__).resolve().parent / "corpus"


def _base() -> dict:
    """pyrunc's default config (`pyrunc spec`), made non-interactive and a little smaller: the one
    default config the tests start from."""
    config = default_spec()
    config["process"].update(
        terminal=False,
        args=["sh", "-c", "echo corpus"],
        env=["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
    )
    config["hostname"] = "corpus"
    linux = config["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "cgroup"]
    linux["maskedPaths"] = ["/proc/kcore", "/proc/keys", "/sys/firmware"]
    linux["readonlyPaths"] = ["/proc/bus", "/proc/fs", "/proc/sys", "/proc/sysrq-trigger"]
    return config


BASE = _base()

USERNS_MAPPINGS = {
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
}


def _full() -> dict:
    """Every field our schema knows, with valid values."""
    config = copy.deepcopy(BASE)
    config["domainname"] = "corpus.test"
    config["annotations"] = {"org.opencontainers.image.os": "linux", "com.example.key": "value"}
    config["process"].update(
        {
            "terminal": True,
            "consoleSize": {"height": 25, "width": 80},
            "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [5, 6], "username": "ignored"},
            "commandLine": "ignored on Linux",
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_NET_RAW", "CAP_CHECKPOINT_RESTORE"],
                "effective": ["CAP_CHOWN"],
                "inheritable": ["CAP_CHOWN"],
                "permitted": ["CAP_CHOWN", "CAP_NET_RAW"],
                "ambient": ["CAP_CHOWN"],
            },
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
                {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
                {"type": "RLIMIT_AS", "hard": 18446744073709551615, "soft": 18446744073709551615},
            ],
            "apparmorProfile": "corpus-profile",
            "selinuxLabel": "system_u:system_r:container_t:s0:c1,c2",
            "oomScoreAdj": 100,
            "scheduler": {
                "policy": "SCHED_FIFO",
                "priority": 10,
                "nice": 0,
                "flags": ["SCHED_FLAG_RESET_ON_FORK"],
            },
            "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
            "execCPUAffinity": {"initial": "0", "final": "0-1"},
        }
    )
    config["mounts"].append(
        {
            "destination": "/data",
            "type": "none",
            "source": "/var/lib/corpus",
            "options": ["rbind", "ridmap", "rw"],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        }
    )
    hook = {"path": "/usr/bin/true", "args": ["true", "hook"], "env": ["HOOK=1"], "timeout": 5}
    config["hooks"] = {
        stage: [hook]
        for stage in (
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        )
    }
    linux = config["linux"]
    linux["namespaces"] += [{"type": "user"}, {"type": "cgroup"}, {"type": "time"}]
    linux.update(copy.deepcopy(USERNS_MAPPINGS))
    linux.update(
        {
            "timeOffsets": {"monotonic": {"secs": 3600, "nanosecs": 5}, "boottime": {"secs": -60}},
            "devices": [
                {
                    "path": "/dev/fuse",
                    "type": "c",
                    "major": 10,
                    "minor": 229,
                    "fileMode": 438,
                    "uid": 0,
                    "gid": 0,
                },
                {"path": "/dev/corpus-blk", "type": "b", "major": 7, "minor": 0},
                {"path": "/dev/corpus-unbuffered", "type": "u", "major": 1, "minor": 3},
                {"path": "/run/corpus-fifo", "type": "p"},
            ],
            "cgroupsPath": "/pyrunc-corpus/full",
            "resources": _full_resources(),
            "intelRdt": {
                "closID": "corpus",
                "l3CacheSchema": "L3:0=7f0;1=1f",
                "memBwSchema": "MB:0=20;1=70",
                "enableCMT": True,
                "enableMBM": False,
            },
            "sysctl": {
                "kernel.shmmax": "4096",
                "fs.mqueue.msg_max": "20",
                "net.ipv4.ip_forward": "1",
                "net/ipv4/conf/all/rp_filter": "1",
                "kernel.domainname": "corpus.test",
            },
            "seccomp": _full_seccomp(),
            "rootfsPropagation": "rslave",
            "mountLabel": "system_u:object_r:container_file_t:s0:c1,c2",
            "personality": {"domain": "LINUX32", "flags": []},
        }
    )
    return config


def _full_resources() -> dict:
    return {
        "devices": [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
            {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "r"},
            {"allow": False, "type": "a", "access": "m"},
        ],
        "memory": {
            "limit": 536870912,
            "reservation": 268435456,
            "swap": 1073741824,
            "kernel": -1,
            "kernelTCP": -1,
            "swappiness": 0,
            "disableOOMKiller": False,
            "useHierarchy": True,
            "checkBeforeUpdate": True,
        },
        "cpu": {
            "shares": 1024,
            "quota": 100000,
            "burst": 50000,
            "period": 100000,
            "realtimeRuntime": 950000,
            "realtimePeriod": 1000000,
            "cpus": "0-1",
            "mems": "0",
            "idle": 0,
        },
        "pids": {"limit": 256},
        "blockIO": {
            "weight": 500,
            "leafWeight": 300,
            "weightDevice": [
                {"major": 8, "minor": 0, "weight": 500, "leafWeight": 300},
                {"major": 8, "minor": 16, "weight": 200},
            ],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 700}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}],
        },
        "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}, {"pageSize": "1GB", "limit": 0}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "mlx4_0": {"hcaObjects": 1000}},
        "unified": {"memory.high": "max", "io.max": "259:0 rbps=2097152"},
    }


def _full_seccomp() -> dict:
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_LOONGARCH64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "listenerPath": "/run/seccomp-agent.socket",
        "listenerMetadata": "corpus",
        "syscalls": [
            {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
            },
            {
                "names": ["clone"],
                "action": "SCMP_ACT_TRACE",
                "errnoRet": 1,
                "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
            },
            {"names": ["mount"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["kexec_load"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["ptrace"], "action": "SCMP_ACT_LOG"},
        ],
    }


def _good() -> dict[str, dict]:
    minimal = {
        "ociVersion": "1.0.0",
        "root": {"path": "/var/lib/corpus/rootfs"},
        "process": {"cwd": "/", "args": ["true"]},
    }
    userns = copy.deepcopy(BASE)
    userns["linux"]["namespaces"].append({"type": "user"})
    userns["linux"].update(copy.deepcopy(USERNS_MAPPINGS))
    userns["mounts"].append({"destination": "/mnt", "source": "/srv", "options": ["bind", "idmap"]})
    joined = copy.deepcopy(BASE)
    joined["linux"]["namespaces"] = [
        {"type": "pid", "path": "/proc/1/ns/pid"},
        {"type": "network", "path": "/var/run/netns/corpus"},
        {"type": "ipc"},
        {"type": "uts"},
        {"type": "mount"},
        {"type": "user", "path": "/proc/1/ns/user"},
        {"type": "cgroup", "path": "/proc/1/ns/cgroup"},
    ]
    deadline = copy.deepcopy(BASE)
    deadline["process"]["scheduler"] = {
        "policy": "SCHED_DEADLINE",
        "runtime": 10000000,
        "deadline": 20000000,
        "period": 30000000,
        "flags": ["SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN"],
    }
    relative = copy.deepcopy(BASE)
    relative["mounts"].append(
        {"destination": "tmp", "type": "tmpfs", "source": "tmpfs"}
    )  # deprecated, allowed
    relative["linux"]["rootfsPropagation"] = "private"
    no_process = {"ociVersion": "1.2.0", "root": {"path": "rootfs"}, "linux": {}}
    unknown = copy.deepcopy(BASE)
    unknown["x-vendor-extension"] = {"anything": [1, 2, 3]}
    unknown["windows"] = {"layerFolders": ["C:\\layers"]}
    unknown["process"]["x-unknown"] = True
    unknown["linux"]["resources"]["futureController"] = {"weight": 5}
    unknown["linux"]["resources"]["CPU"] = {"shares": 512}  # runc folds it into cpu; pyrunc ignores it
    unknown["linux"]["resources"]["devices"][0]["futureField"] = 1
    rootless = copy.deepcopy(BASE)
    rootless["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user")]
    rootless["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    rootless["linux"]["gidMappings"] = [
        {"containerID": 0, "hostID": 1000, "size": 1},
        {"containerID": 1, "hostID": 100000, "size": 65536},
    ]
    rootless["linux"].pop("resources")
    timens = copy.deepcopy(BASE)
    timens["linux"]["namespaces"].append({"type": "time"})
    timens["linux"]["timeOffsets"] = {
        "monotonic": {"secs": 86400},
        "boottime": {"secs": 1, "nanosecs": 999999999},
    }
    rslave = copy.deepcopy(BASE)
    rslave["linux"]["rootfsPropagation"] = "rslave"  # what dockerd sends with a shared bind mount
    arches = copy.deepcopy(BASE)
    arches["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB"],
    }
    filemode = copy.deepcopy(BASE)
    # S_IFCHR|0666 as stat(2) reports it; runc, like pyrunc's plan, keeps only the permission bits
    filemode["linux"]["devices"] = [
        {"path": "/dev/null2", "type": "c", "major": 1, "minor": 3, "fileMode": 8630}
    ]
    spec13 = copy.deepcopy(BASE)
    spec13["ociVersion"] = "1.3.0"
    spec13["linux"]["netDevices"] = {"eth0": {"name": "ctr0"}, "veth7": {}, "enp3s0": {"name": "lan%d"}}
    spec13["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"]}
    spec13["linux"]["intelRdt"] = {
        "closID": "c1",
        "schemata": ["L3:0=ff", "MB:0=50"],
        "enableMonitoring": True,
    }
    return {
        "runtime-spec-1.3-fields.json": spec13,
        "time-namespace.json": timens,
        "rootfs-propagation-rslave.json": rslave,
        "seccomp-new-architectures.json": arches,
        "device-filemode-type-bits.json": filemode,
        "minimal.json": minimal,
        "base.json": copy.deepcopy(BASE),
        "full.json": _full(),
        "userns-idmap.json": userns,
        "joined-namespaces.json": joined,
        "scheduler-deadline.json": deadline,
        "relative-mount-destination.json": relative,
        "no-process.json": no_process,
        "unknown-properties.json": unknown,
        "rootless.json": rootless,
    }


# name: (mutation of a copy of BASE, where, a piece of the problem, stage)
def _set(path: str, value):
    def mutate(config):
        *parents, last = _split(path)
        node = config
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


def _delete(path: str):
    def mutate(config):
        *parents, last = _split(path)
        node = config
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


def _split(path: str) -> list:
    return [int(p) if p.isdigit() else p for p in path.split("/")]


def _both(*mutations):
    def mutate(config):
        for m in mutations:
            m(config)

    return mutate


def _append(path: str, value):
    def mutate(config):
        node = config
        for part in _split(path):
            node = node[part]
        node.append(value)

    return mutate


USER = _both(
    _append("linux/namespaces", {"type": "user"}), lambda c: c["linux"].update(copy.deepcopy(USERNS_MAPPINGS))
)
BIND = {"destination": "/data", "source": "/srv", "options": ["rbind"]}
SCHEMA_BAD = {
    "not-an-object": (lambda c: None, "", "expected an object, got an array"),
    "missing-ociVersion": (_delete("ociVersion"), "", "required property 'ociVersion' is missing"),
    "ociVersion-not-semver": (_set("ociVersion", "1.0"), "ociVersion", "SemVer"),
    "ociVersion-number": (_set("ociVersion", 1), "ociVersion", "expected a string, got an integer"),
    "missing-root": (_delete("root"), "", "required property 'root' is missing"),
    "root-path-empty": (_set("root/path", ""), "root.path", "must not be empty"),
    "root-readonly-string": (
        _set("root/readonly", "true"),
        "root.readonly",
        "expected a boolean, got a string",
    ),
    "mounts-not-array": (_set("mounts", {}), "mounts", "expected an array, got an object"),
    "mount-missing-destination": (_delete("mounts/0/destination"), "mounts[0]", "'destination' is missing"),
    "mount-option-number": (_set("mounts/1/options/0", 1), "mounts[1].options[0]", "expected a string"),
    "mount-uidmappings-alone": (
        _append("mounts", {**BIND, "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}),
        "mounts[7]",
        "'gidMappings' is required when 'uidMappings' is set",
    ),
    "process-not-object": (_set("process", ["sh"]), "process", "expected an object, got an array"),
    "process-missing-cwd": (_delete("process/cwd"), "process", "required property 'cwd' is missing"),
    "process-missing-args": (_delete("process/args"), "process", "required property 'args' is missing"),
    "process-empty-args": (_set("process/args", []), "process.args", "must not be empty"),
    "terminal-string": (_set("process/terminal", "no"), "process.terminal", "expected a boolean"),
    "consolesize-missing-width": (
        _set("process/consoleSize", {"height": 1}),
        "process.consoleSize",
        "'width'",
    ),
    "uid-string": (_set("process/user/uid", "0"), "process.user.uid", "expected an integer, got a string"),
    "uid-negative": (_set("process/user/uid", -1), "process.user.uid", "must be at least 0"),
    "uid-float": (_set("process/user/uid", 0.0), "process.user.uid", "expected an integer"),
    "uid-too-big": (_set("process/user/uid", 4294967296), "process.user.uid", "must be at most 4294967295"),
    "user-missing-gid": (_delete("process/user/gid"), "process.user", "required property 'gid' is missing"),
    "additional-gid-bool": (
        _set("process/user/additionalGids", [1, True]),
        "process.user.additionalGids[1]",
        "got a boolean",
    ),
    "env-number": (_set("process/env/0", 7), "process.env[0]", "expected a string"),
    "capabilities-string": (
        _set("process/capabilities/bounding", "CAP_KILL"),
        "process.capabilities.bounding",
        "expected an array",
    ),
    "rlimit-lowercase": (
        _set("process/rlimits/0/type", "rlimit_nofile"),
        "process.rlimits[0].type",
        "RLIMIT_",
    ),
    "rlimit-missing-soft": (_delete("process/rlimits/0/soft"), "process.rlimits[0]", "'soft' is missing"),
    "rlimit-hard-negative": (_set("process/rlimits/0/hard", -1), "process.rlimits[0].hard", "at least 0"),
    "oomscoreadj-string": (_set("process/oomScoreAdj", "1"), "process.oomScoreAdj", "expected an integer"),
    "scheduler-bad-policy": (
        _set("process/scheduler", {"policy": "SCHED_FAST"}),
        "process.scheduler.policy",
        "'SCHED_FAST' is not one of: SCHED_OTHER",
    ),
    "scheduler-missing-policy": (
        _set("process/scheduler", {"nice": 1}),
        "process.scheduler",
        "'policy' is missing",
    ),
    "iopriority-bad-class": (
        _set("process/ioPriority", {"class": "RT", "priority": 0}),
        "process.ioPriority.class",
        "is not one of: IOPRIO_CLASS_RT",
    ),
    "iopriority-too-low": (
        _set("process/ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 8}),
        "process.ioPriority.priority",
        "at most 7",
    ),
    "hostname-number": (_set("hostname", 5), "hostname", "expected a string"),
    "hook-missing-path": (
        _set("hooks", {"prestart": [{"args": ["x"]}]}),
        "hooks.prestart[0]",
        "'path' is missing",
    ),
    "hook-timeout-zero": (
        _set("hooks", {"poststart": [{"path": "/bin/true", "timeout": 0}]}),
        "hooks.poststart[0].timeout",
        "at least 1",
    ),
    "hooks-not-array": (
        _set("hooks", {"poststop": {"path": "/bin/true"}}),
        "hooks.poststop",
        "expected an array",
    ),
    "annotation-number": (
        _set("annotations", {"com.example.key": 1}),
        'annotations["com.example.key"]',
        "expected a string",
    ),
    "annotation-empty-key": (
        _set("annotations", {"": "x"}),
        "annotations",
        "invalid key '': must not be empty",
    ),
    "linux-not-object": (_set("linux", []), "linux", "expected an object"),
    "namespace-bad-type": (
        _set("linux/namespaces/1/type", "net"),
        "linux.namespaces[1].type",
        "'net' is not one of: pid, network, mount, ipc, uts, user, cgroup, time",
    ),
    "namespace-missing-type": (
        _set("linux/namespaces/0", {"path": "/proc/1/ns/pid"}),
        "linux.namespaces[0]",
        "'type' is missing",
    ),
    "uidmapping-missing-size": (
        _both(USER, _delete("linux/uidMappings/0/size")),
        "linux.uidMappings[0]",
        "'size' is missing",
    ),
    "device-bad-type": (
        _set("linux/devices", [{"type": "x", "path": "/dev/x", "major": 1, "minor": 1}]),
        "linux.devices[0].type",
        "is not one of: c, b, u, p",
    ),
    "device-char-without-major": (
        _set("linux/devices", [{"type": "c", "path": "/dev/x", "minor": 1}]),
        "linux.devices[0]",
        "'major' is missing",
    ),
    "device-rule-missing-allow": (
        _set("linux/resources/devices/0", {"access": "rwm"}),
        "linux.resources.devices[0]",
        "'allow' is missing",
    ),
    "device-rule-access-x": (
        _set("linux/resources/devices/0/access", "rwx"),
        "linux.resources.devices[0].access",
        "combination of r, w and m",
    ),
    "device-rule-bad-type": (
        _set("linux/resources/devices/0/type", "p"),
        "linux.resources.devices[0].type",
        "is not one of: a, c, b",
    ),
    "memory-limit-string": (
        _set("linux/resources/memory", {"limit": "1G"}),
        "linux.resources.memory.limit",
        "expected an integer",
    ),
    "cpu-shares-negative": (
        _set("linux/resources/cpu", {"shares": -1}),
        "linux.resources.cpu.shares",
        "at least 0",
    ),
    "pids-missing-limit": (_set("linux/resources/pids", {}), "linux.resources.pids", "'limit' is missing"),
    "blkio-weight-too-big": (
        _set("linux/resources/blockIO", {"weight": 70000}),
        "linux.resources.blockIO.weight",
        "at most 65535",
    ),
    "weightdevice-no-weight": (
        _set("linux/resources/blockIO", {"weightDevice": [{"major": 8, "minor": 0}]}),
        "linux.resources.blockIO.weightDevice[0]",
        "at least one of 'weight', 'leafWeight'",
    ),
    "throttle-missing-rate": (
        _set("linux/resources/blockIO", {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}),
        "linux.resources.blockIO.throttleReadBpsDevice[0]",
        "'rate' is missing",
    ),
    "hugepage-lowercase-size": (
        _set("linux/resources/hugepageLimits", [{"pageSize": "2mb", "limit": 1}]),
        "linux.resources.hugepageLimits[0].pageSize",
        "page size",
    ),
    "rdma-empty-entry": (
        _set("linux/resources/rdma", {"mlx5_1": {}}),
        "linux.resources.rdma.mlx5_1",
        "at least one of 'hcaHandles', 'hcaObjects'",
    ),
    "unified-number": (
        _set("linux/resources/unified", {"memory.max": 5}),
        'linux.resources.unified["memory.max"]',
        "expected a string",
    ),
    "sysctl-number": (
        _set("linux/sysctl", {"net.ipv4.ip_forward": 1}),
        'linux.sysctl["net.ipv4.ip_forward"]',
        "expected a string",
    ),
    "seccomp-missing-default": (
        _set("linux/seccomp", {"syscalls": []}),
        "linux.seccomp",
        "'defaultAction' is missing",
    ),
    "seccomp-bad-action": (
        _set(
            "linux/seccomp",
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_DENY"}]},
        ),
        "linux.seccomp.syscalls[0].action",
        "is not one of: SCMP_ACT_KILL",
    ),
    "seccomp-bad-arch": (
        _set("linux/seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]}),
        "linux.seccomp.architectures[0]",
        "SCMP_ARCH_X86_64",
    ),
    "seccomp-bad-flag": (
        _set("linux/seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["TSYNC"]}),
        "linux.seccomp.flags[0]",
        "SECCOMP_FILTER_FLAG_TSYNC",
    ),
    "seccomp-empty-names": (
        _set(
            "linux/seccomp",
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_KILL"}]},
        ),
        "linux.seccomp.syscalls[0].names",
        "must not be empty",
    ),
    "seccomp-bad-op": (
        _set(
            "linux/seccomp",
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_KILL",
                        "args": [{"index": 0, "value": 1, "op": "=="}],
                    }
                ],
            },
        ),
        "linux.seccomp.syscalls[0].args[0].op",
        "SCMP_CMP_EQ",
    ),
    "seccomp-metadata-without-listener": (
        _set("linux/seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}),
        "linux.seccomp",
        "'listenerPath' is required when 'listenerMetadata' is set",
    ),
    "rootfs-propagation-bad": (
        _set("linux/rootfsPropagation", "rshare"),
        "linux.rootfsPropagation",
        "'rshare' is not one of",
    ),
    "personality-bad-domain": (
        _set("linux/personality", {"domain": "LINUX64"}),
        "linux.personality.domain",
        "LINUX32",
    ),
    "personality-missing-domain": (
        _set("linux/personality", {"flags": []}),
        "linux.personality",
        "'domain' is missing",
    ),
    "intelrdt-bad-membw": (
        _set("linux/intelRdt", {"memBwSchema": "L3:0=1"}),
        "linux.intelRdt.memBwSchema",
        "MB:",
    ),
    "intelrdt-schemata-string": (
        _set("linux/intelRdt", {"schemata": "L3:0=ff"}),
        "linux.intelRdt.schemata",
        "expected an array",
    ),
    "intelrdt-monitoring-string": (
        _set("linux/intelRdt", {"enableMonitoring": "yes"}),
        "linux.intelRdt.enableMonitoring",
        "boolean",
    ),
    "memorypolicy-unknown-mode": (
        _set("linux/memoryPolicy", {"mode": "MPOL_FAST", "nodes": "0"}),
        "linux.memoryPolicy.mode",
        "MPOL_BIND",
    ),
    "memorypolicy-missing-mode": (
        _set("linux/memoryPolicy", {"nodes": "0"}),
        "linux.memoryPolicy",
        "'mode' is missing",
    ),
    "memorypolicy-unknown-flag": (
        _set("linux/memoryPolicy", {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_FAST"]}),
        "linux.memoryPolicy.flags[0]",
        "MPOL_F_STATIC_NODES",
    ),
    "netdevice-name-number": (
        _set("linux/netDevices", {"veth0": {"name": 5}}),
        "linux.netDevices.veth0.name",
        "expected a string",
    ),
    "timeoffset-negative-nanosecs": (
        _both(
            _append("linux/namespaces", {"type": "time"}),
            _set("linux/timeOffsets", {"monotonic": {"nanosecs": -1}}),
        ),
        "linux.timeOffsets.monotonic.nanosecs",
        "at least 0",
    ),
    "masked-path-number": (_set("linux/maskedPaths/0", 1), "linux.maskedPaths[0]", "expected a string"),
}

SEMANTIC_BAD = {
    "ociVersion-major-2": (_set("ociVersion", "2.0.0"), "ociVersion", "not supported"),
    "namespace-duplicate": (
        _append("linux/namespaces", {"type": "pid"}),
        "linux.namespaces[5].type",
        "duplicate namespace type 'pid'",
    ),
    "namespace-relative-path": (
        _set("linux/namespaces/0/path", "proc/1/ns/pid"),
        "linux.namespaces[0].path",
        "must be an absolute path",
    ),
    "userns-without-mappings": (
        _append("linux/namespaces", {"type": "user"}),
        "linux.uidMappings",
        "needs uidMappings",
    ),
    "mappings-without-userns": (
        lambda c: c["linux"].update(copy.deepcopy(USERNS_MAPPINGS)),
        "linux.uidMappings",
        "no user namespace",
    ),
    "mappings-overlap-container": (
        _both(USER, _append("linux/uidMappings", {"containerID": 100, "hostID": 300000, "size": 10})),
        "linux.uidMappings[1].containerID",
        "container IDs overlap those of linux.uidMappings[0]",
    ),
    "mappings-overlap-host": (
        _both(USER, _append("linux/gidMappings", {"containerID": 70000, "hostID": 100010, "size": 10})),
        "linux.gidMappings[1].hostID",
        "host IDs overlap",
    ),
    "mapping-zero-size": (
        _both(USER, _set("linux/uidMappings/0/size", 0)),
        "linux.uidMappings[0].size",
        "greater than 0",
    ),
    "mapping-past-id-limit": (
        _both(USER, _set("linux/uidMappings/0/hostID", 4294967290)),
        "linux.uidMappings[0].size",
        "must not exceed 4294967295",
    ),
    "mappings-too-many": (
        _both(
            USER,
            _set(
                "linux/uidMappings", [{"containerID": i, "hostID": 100000 + i, "size": 1} for i in range(341)]
            ),
        ),
        "linux.uidMappings",
        "at most 340",
    ),
    "root-not-mapped": (
        _both(USER, _set("linux/uidMappings/0/containerID", 1)),
        "linux.uidMappings",
        "container uid 0 (root) must be mapped",
    ),
    "process-uid-not-mapped": (
        _both(USER, _set("process/user/uid", 70000)),
        "process.user.uid",
        "uid 70000 is not mapped",
    ),
    "process-additional-gid-not-mapped": (
        _both(USER, _set("process/user/additionalGids", [5, 65536])),
        "process.user.additionalGids[1]",
        "gid 65536 is not mapped",
    ),
    "hostname-without-uts": (_delete("linux/namespaces/3"), "hostname", "needs a uts namespace"),
    "domainname-without-uts": (
        _both(_delete("hostname"), _delete("linux/namespaces/3"), _set("domainname", "x.test")),
        "domainname",
        "needs a uts namespace",
    ),
    "hostname-too-long": (_set("hostname", "h" * 65), "hostname", "at most 64 bytes"),
    "timeoffsets-without-timens": (
        _set("linux/timeOffsets", {"monotonic": {"secs": 1}}),
        "linux.timeOffsets",
        "no time namespace",
    ),
    "timeoffsets-joined-timens": (
        _both(
            _append("linux/namespaces", {"type": "time", "path": "/proc/1/ns/time"}),
            _set("linux/timeOffsets", {"boottime": {"secs": 1}}),
        ),
        "linux.timeOffsets",
        "joining an existing time namespace",
    ),
    "timeoffsets-unknown-clock": (
        _both(
            _append("linux/namespaces", {"type": "time"}),
            _set("linux/timeOffsets", {"realtime": {"secs": 1}}),
        ),
        "linux.timeOffsets.realtime",
        "unknown clock 'realtime'",
    ),
    "timeoffsets-nanosecs-a-second": (
        _both(
            _append("linux/namespaces", {"type": "time"}),
            _set("linux/timeOffsets", {"monotonic": {"nanosecs": 1000000000}}),
        ),
        "linux.timeOffsets.monotonic.nanosecs",
        "below 1000000000",
    ),
    "hook-relative-path": (
        _set("hooks", {"createRuntime": [{"path": "bin/hook"}]}),
        "hooks.createRuntime[0].path",
        "must be an absolute path",
    ),
    "device-relative-path": (
        _set("linux/devices", [{"type": "p", "path": "dev/fifo"}]),
        "linux.devices[0].path",
        "must be an absolute path",
    ),
    "device-duplicate-path": (
        _set(
            "linux/devices",
            [{"type": "p", "path": "/dev/fifo"}, {"type": "c", "path": "/dev/fifo", "major": 1, "minor": 3}],
        ),
        "linux.devices[1].path",
        "duplicate device path",
    ),
    "device-negative-major": (
        _set("linux/devices", [{"type": "c", "path": "/dev/x", "major": -1, "minor": 0}]),
        "linux.devices[0].major",
        "must not be negative",
    ),
    "cwd-relative": (_set("process/cwd", "root"), "process.cwd", "must be an absolute path"),
    "no-process": (_delete("process"), "process", "a container needs a process"),
    "args-empty-program": (_set("process/args/0", ""), "process.args[0]", "must not be empty"),
    "args-nul": (_set("process/args/1", "a\u0000b"), "process.args[1]", "NUL"),
    "env-without-equals": (_set("process/env/1", "HOME"), "process.env[1]", "NAME=value"),
    "env-empty-name": (_set("process/env/1", "=x"), "process.env[1]", "empty variable name"),
    "capability-unknown": (
        _set("process/capabilities/effective/1", "CAP_FLY"),
        "process.capabilities.effective[1]",
        "unknown capability 'CAP_FLY'",
    ),
    "capability-without-prefix": (
        _set("process/capabilities/bounding/0", "NET_ADMIN"),
        "process.capabilities.bounding[0]",
        "did you mean 'CAP_NET_ADMIN'",
    ),
    "rlimit-unknown": (
        _set("process/rlimits/0/type", "RLIMIT_FILES"),
        "process.rlimits[0].type",
        "unknown rlimit 'RLIMIT_FILES'",
    ),
    "rlimit-duplicate": (
        _append("process/rlimits", {"type": "RLIMIT_NOFILE", "hard": 10, "soft": 10}),
        "process.rlimits[1].type",
        "duplicate rlimit RLIMIT_NOFILE (also at process.rlimits[0])",
    ),
    "rlimit-soft-above-hard": (
        _set("process/rlimits/0/soft", 2048),
        "process.rlimits[0].soft",
        "above the hard limit",
    ),
    "oomscoreadj-out-of-range": (
        _set("process/oomScoreAdj", 1001),
        "process.oomScoreAdj",
        "between -1000 and 1000",
    ),
    "scheduler-nice-20": (
        _set("process/scheduler", {"policy": "SCHED_OTHER", "nice": 20}),
        "process.scheduler.nice",
        "between -20 and 19",
    ),
    "scheduler-priority-other": (
        _set("process/scheduler", {"policy": "SCHED_OTHER", "priority": 5}),
        "process.scheduler.priority",
        "only SCHED_FIFO and SCHED_RR",
    ),
    "scheduler-fifo-priority-0": (
        _set("process/scheduler", {"policy": "SCHED_FIFO"}),
        "process.scheduler.priority",
        "between 1 and 99",
    ),
    "scheduler-runtime-batch": (
        _set("process/scheduler", {"policy": "SCHED_BATCH", "runtime": 5}),
        "process.scheduler.runtime",
        "only SCHED_DEADLINE",
    ),
    "scheduler-deadline-order": (
        _set("process/scheduler", {"policy": "SCHED_DEADLINE", "runtime": 9, "deadline": 5, "period": 10}),
        "process.scheduler",
        "runtime <= deadline <= period",
    ),
    "exec-affinity-bad": (
        _set("process/execCPUAffinity", {"final": "0-"}),
        "process.execCPUAffinity.final",
        "0-3,7",
    ),
    "sysctl-ipc-without-ipcns": (
        _both(_delete("linux/namespaces/2"), _set("linux/sysctl", {"kernel.shmmax": "1"})),
        'linux.sysctl["kernel.shmmax"]',
        "needs an ipc namespace",
    ),
    "sysctl-mqueue-without-ipcns": (
        _both(_delete("linux/namespaces/2"), _set("linux/sysctl", {"fs.mqueue.msg_max": "1"})),
        'linux.sysctl["fs.mqueue.msg_max"]',
        "needs an ipc namespace",
    ),
    "sysctl-net-without-netns": (
        _both(_delete("linux/namespaces/1"), _set("linux/sysctl", {"net.ipv4.ip_forward": "1"})),
        'linux.sysctl["net.ipv4.ip_forward"]',
        "needs a network namespace",
    ),
    "sysctl-net-in-host-netns": (
        _both(
            _set("linux/namespaces/1/path", "/proc/self/ns/net"),
            _set("linux/sysctl", {"net.core.somaxconn": "1"}),
        ),
        'linux.sysctl["net.core.somaxconn"]',
        "host's network namespace",
    ),
    "sysctl-not-namespaced": (
        _set("linux/sysctl", {"kernel.core_pattern": "|/tmp/x"}),
        'linux.sysctl["kernel.core_pattern"]',
        "not namespaced",
    ),
    "sysctl-slash-form-not-namespaced": (
        _set("linux/sysctl", {"vm/overcommit_memory": "1"}),
        'linux.sysctl["vm/overcommit_memory"]',
        "sysctl 'vm.overcommit_memory' is not namespaced",
    ),
    "sysctl-hostname-conflict": (
        _set("linux/sysctl", {"kernel.hostname": "other"}),
        'linux.sysctl["kernel.hostname"]',
        "conflicts with the hostname field",
    ),
    "sysctl-empty-component": (
        _set("linux/sysctl", {"net..ipv4": "1"}),
        'linux.sysctl["net..ipv4"]',
        "not a sysctl name",
    ),
    "seccomp-notify-without-listener": (
        _set(
            "linux/seccomp",
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}],
            },
        ),
        "linux.seccomp.syscalls[0].action",
        "needs linux.seccomp.listenerPath",
    ),
    "seccomp-notify-default": (
        _set("linux/seccomp", {"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/agent.sock"}),
        "linux.seccomp.defaultAction",
        "cannot be the default action",
    ),
    "seccomp-errnoret-with-allow": (
        _set(
            "linux/seccomp",
            {
                "defaultAction": "SCMP_ACT_KILL",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}],
            },
        ),
        "linux.seccomp.syscalls[0].errnoRet",
        "SCMP_ACT_ALLOW does not return an errno",
    ),
    "seccomp-default-errnoret-with-kill": (
        _set("linux/seccomp", {"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1}),
        "linux.seccomp.defaultErrnoRet",
        "does not return an errno",
    ),
    "seccomp-arg-index-6": (
        _set(
            "linux/seccomp",
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_KILL",
                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                    }
                ],
            },
        ),
        "linux.seccomp.syscalls[0].args[0].index",
        "must be 0-5",
    ),
    "device-rule-without-access": (
        _delete("linux/resources/devices/0/access"),
        "linux.resources.devices[0].access",
        "runc refuses",
    ),
    "memory-limit-minus-2": (
        _set("linux/resources/memory", {"limit": -2}),
        "linux.resources.memory.limit",
        "must be -1 (unlimited)",
    ),
    "memory-swap-without-limit": (
        _set("linux/resources/memory", {"swap": 1048576}),
        "linux.resources.memory.swap",
        "needs memory.limit",
    ),
    "memory-swap-below-limit": (
        _set("linux/resources/memory", {"limit": 2097152, "swap": 1048576}),
        "linux.resources.memory.swap",
        "below memory.limit",
    ),
    "memory-swappiness-101": (
        _set("linux/resources/memory", {"swappiness": 101}),
        "linux.resources.memory.swappiness",
        "between 0 and 100",
    ),
    "cpus-open-range": (_set("linux/resources/cpu", {"cpus": "0-"}), "linux.resources.cpu.cpus", "0-3,7"),
    "mems-descending": (
        _set("linux/resources/cpu", {"mems": "3-1"}),
        "linux.resources.cpu.mems",
        "goes backwards",
    ),
    "cpus-with-spaces": (_set("linux/resources/cpu", {"cpus": "0, 1"}), "linux.resources.cpu.cpus", "0-3,7"),
    "cpu-burst-above-quota": (
        _set("linux/resources/cpu", {"quota": 1000, "burst": 2000}),
        "linux.resources.cpu.burst",
        "must not be larger than quota",
    ),
    "cpu-idle-2": (_set("linux/resources/cpu", {"idle": 2}), "linux.resources.cpu.idle", "must be 0 or 1"),
    "unified-path-escape": (
        _set("linux/resources/unified", {"../../release_agent": "x"}),
        'linux.resources.unified["../../release_agent"]',
        "not a cgroup file name",
    ),
    "masked-path-relative": (
        _set("linux/maskedPaths/0", "proc/kcore"),
        "linux.maskedPaths[0]",
        "must be an absolute path",
    ),
    "masked-paths-without-mountns": (
        _delete("linux/namespaces/4"),
        "linux.maskedPaths",
        "needs a mount namespace",
    ),
    "readonly-paths-without-mountns": (
        _both(_delete("linux/namespaces/4"), _delete("linux/maskedPaths")),
        "linux.readonlyPaths",
        "needs a mount namespace",
    ),
    "mount-destination-empty": (
        _set("mounts/0/destination", ""),
        "mounts[0].destination",
        "must not be empty",
    ),
    "mount-source-nul": (_set("mounts/0/source", "pr\u0000oc"), "mounts[0].source", "NUL"),
    "idmap-mount-not-bind": (
        _append("mounts", {"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}),
        "mounts[7].options",
        "must be a bind mount",
    ),
    "idmap-option-without-userns": (
        _append("mounts", {**BIND, "options": ["rbind", "idmap"]}),
        "mounts[7].options",
        "needs a user namespace",
    ),
    "idmap-mapping-zero-size": (
        _append(
            "mounts",
            {
                **BIND,
                "uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}],
                "gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}],
            },
        ),
        "mounts[7].uidMappings[0].size",
        "greater than 0",
    ),
    "intelrdt-closid-dotdot": (
        _set("linux/intelRdt", {"closID": ".."}),
        "linux.intelRdt.closID",
        "not a resctrl group name",
    ),
    "memorypolicy-bind-without-nodes": (
        _set("linux/memoryPolicy", {"mode": "MPOL_BIND"}),
        "linux.memoryPolicy.nodes",
        "needs at least one memory node",
    ),
    "memorypolicy-local-with-nodes": (
        _set("linux/memoryPolicy", {"mode": "MPOL_LOCAL", "nodes": "0"}),
        "linux.memoryPolicy.nodes",
        "takes no memory nodes",
    ),
    "memorypolicy-bad-nodes": (
        _set("linux/memoryPolicy", {"mode": "MPOL_INTERLEAVE", "nodes": "1-0"}),
        "linux.memoryPolicy.nodes",
        "node list",
    ),
    "memorypolicy-static-and-relative": (
        _set(
            "linux/memoryPolicy",
            {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]},
        ),
        "linux.memoryPolicy.flags",
        "exclude each other",
    ),
    "memorypolicy-static-without-nodes": (
        _set("linux/memoryPolicy", {"mode": "MPOL_PREFERRED", "flags": ["MPOL_F_STATIC_NODES"]}),
        "linux.memoryPolicy.flags",
        "need memory nodes",
    ),
    "memorypolicy-balancing-interleave": (
        _set(
            "linux/memoryPolicy",
            {"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]},
        ),
        "linux.memoryPolicy.flags",
        "MPOL_F_NUMA_BALANCING goes with MPOL_BIND",
    ),
    "netdevices-without-netns": (
        _both(
            _set("linux/namespaces", [{"type": t} for t in ("pid", "ipc", "uts", "mount")]),
            _set("linux/netDevices", {"veth0": {}}),
        ),
        "linux.netDevices",
        "needs a network namespace",
    ),
    "netdevice-name-too-long": (
        _set("linux/netDevices", {"veth0": {"name": "container-ether0"}}),
        "linux.netDevices.veth0.name",
        "longer than 15 bytes",
    ),
    "netdevice-host-name-slash": (
        _set("linux/netDevices", {"veth/0": {}}),
        'linux.netDevices["veth/0"]',
        "must not contain '/'",
    ),
    "netdevice-host-name-template": (
        _set("linux/netDevices", {"veth%d": {}}),
        'linux.netDevices["veth%d"]',
        "must not contain '%'",
    ),
    "netdevice-bad-template": (
        _set("linux/netDevices", {"veth0": {"name": "eth%s"}}),
        "linux.netDevices.veth0.name",
        "one %d template",
    ),
    "netdevice-duplicate-name": (
        _set("linux/netDevices", {"veth0": {"name": "eth0"}, "veth1": {"name": "eth0"}}),
        "linux.netDevices.veth1.name",
        "also the container name of 'veth0'",
    ),
}


def bad() -> dict[str, tuple[object, str, str, str]]:
    """name -> (config, where, problem piece, stage)."""
    out = {}
    for stage, table in (("schema", SCHEMA_BAD), ("semantic", SEMANTIC_BAD)):
        for name, (mutate, where, problem) in table.items():
            if name == "not-an-object":
                config: object = [copy.deepcopy(BASE)]
            else:
                config = copy.deepcopy(BASE)
                mutate(config)
            out[f"{name}.json"] = (config, where, problem, stage)
    return out


def good() -> dict[str, dict]:
    return _good()


def render(document: object) -> str:
    return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def expected() -> dict:
    return {name: {"where": w, "problem": p, "stage": s} for name, (_c, w, p, s) in sorted(bad().items())}


def files() -> dict[str, str]:
    """Relative path under corpus/ -> file text."""
    out = {f"good/{name}": render(doc) for name, doc in good().items()}
    out.update({f"bad/{name}": render(config) for name, (config, *_rest) in bad().items()})
    out["expected.json"] = render(expected())
    return out


def write() -> None:
    for sub in ("good", "bad"):
        (CORPUS / sub).mkdir(parents=True, exist_ok=True)
        for stale in (CORPUS / sub).glob("*.json"):
            stale.unlink()
    for relative, text in files().items():
        (CORPUS / relative).write_text(text)


if __name__ == "__main__":
    write()
    print(f"wrote {len(files())} files under {CORPUS}", file=sys.stderr)
