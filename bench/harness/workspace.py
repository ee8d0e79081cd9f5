"""The harness's temporary world: rootfs, bundles, per-runtime roots, pid files, the compiled shim,
and the cgroup parent of every container; set up once, torn down on every exit path."""

import json
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
REPO = os.path.dirname(HERE)
SHIM_SOURCE = os.path.join(HERE, "shim.c")
ROOTFS_BUILDER = os.path.join(REPO, "oci-bundles", "build")

# crun 1.8.1 rejects ociVersion 1.2.0 ("unknown version specified"); 1.0.2 is read by all three.
OCI_VERSION = "1.0.2"
SLEEP_ARGS = ["sleep", "3600"]
TRUE_ARGS = ["/bin/true"]
MASKED_PATHS = [
    *("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats"),
    *("/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"),
]


def container_config(args: list[str], rootfs: str, cgroups_path: str, hostname: str) -> dict:
    """A minimal config shaped like `runc spec`'s: the usual namespaces and mounts, a read-only
    rootfs given by absolute path (so bundles share one rootfs) and an explicit cgroupsPath.

    Its own on purpose, not pyrunc's default (pyrunc/config/spec.py): bench/ measures runc and crun
    with the same config, runs without pyrunc installed, and its figures must not move when
    pyrunc's default does."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    nosuid_noexec_nodev = ["nosuid", "noexec", "nodev"]
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": [*nosuid_noexec_nodev, "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": nosuid_noexec_nodev,
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": [*nosuid_noexec_nodev, "ro"],
            },
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": [*nosuid_noexec_nodev, "relatime", "ro"],
            },
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": ns} for ns in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


class Workspace:
    """Paths under one temporary directory; nothing outside it except the cgroup tree."""

    def __init__(self, parent: str | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="pyrunc-bench-", dir=parent)
        self.tag = f"pb{os.getpid()}"
        self.cgroup_parent = f"/pyrunc-bench-{os.getpid()}"
        self.rootfs = os.path.join(self.dir, "rootfs")
        self.shim = os.path.join(self.dir, "shim")
        for sub in ("bundles", "roots", "pids", "hyperfine"):
            os.mkdir(os.path.join(self.dir, sub))
        self.roots_fs = self._roots_on_tmpfs()

    def _roots_on_tmpfs(self) -> str:
        """Every runtime's --root on a tmpfs, as /run is on the hosts they run on (runc's default
        /run/runc, containerd's /run/containerd/runc/NS): a state directory's files then cost what
        they cost there. On this VM /tmp and /run are ext4, where each delete paid about 0.5 ms more
        for the journal, whatever the runtime. Returns the file system the roots are on."""
        roots = os.path.join(self.dir, "roots")
        argv = ["mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "pyrunc-bench", roots]
        if subprocess.run(argv, capture_output=True).returncode == 0:
            self.roots_mounted = True
            return "tmpfs"
        self.roots_mounted = False
        done = subprocess.run(["stat", "-f", "-c", "%T", roots], capture_output=True, text=True)
        return done.stdout.strip() or "?"

    def build_rootfs(self) -> None:
        subprocess.run([ROOTFS_BUILDER, self.rootfs], check=True, stdout=subprocess.DEVNULL)

    def compile_shim(self) -> None:
        """Static with musl when available (smallest exec cost), else the default compiler."""
        attempts = [
            ["musl-gcc", "-O2", "-static", "-o", self.shim, SHIM_SOURCE],
            ["cc", "-O2", "-o", self.shim, SHIM_SOURCE],
        ]
        errors = []
        for argv in attempts:
            if shutil.which(argv[0]) is None:
                continue
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode == 0:
                return
            errors.append(done.stderr.strip())
        raise RuntimeError("cannot compile bench/shim.c: " + ("; ".join(errors) or "no C compiler"))

    def bundle(self, slot: str, args: list[str]) -> str:
        """Bundle `slot` (config.json only; rootfs shared), cgroup <parent>/<slot>."""
        path = os.path.join(self.dir, "bundles", slot)
        if not os.path.isdir(path):
            os.mkdir(path)
            config = container_config(args, self.rootfs, f"{self.cgroup_parent}/{slot}", slot)
            with open(os.path.join(path, "config.json"), "w") as f:
                json.dump(config, f, indent=1)
        return path

    def bundle_prefix(self, slot: str) -> str:
        """Prefix the shim's batch mode appends a worker index to (slot0, slot1, ...)."""
        return os.path.join(self.dir, "bundles", slot)

    def root(self, runtime: str) -> str:
        path = os.path.join(self.dir, "roots", runtime)
        os.makedirs(path, exist_ok=True)
        return path

    def container_id(self, runtime: str, slot: str) -> str:
        return f"{self.tag}-{runtime}-{slot}"

    def pid_file(self, container_id: str) -> str:
        return os.path.join(self.dir, "pids", f"{container_id}.pid")

    @property
    def pid_dir(self) -> str:
        return os.path.join(self.dir, "pids")

    def hyperfine_json(self, name: str) -> str:
        return os.path.join(self.dir, "hyperfine", f"{name}.json")

    def remove(self) -> None:
        if self.roots_mounted:
            roots = os.path.join(self.dir, "roots")
            if subprocess.run(["umount", roots], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", roots], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
