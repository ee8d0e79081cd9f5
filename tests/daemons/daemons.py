"""Private containerd, dockerd and podman instances for the end-to-end tests.

Each one lives under its own temporary directory (root, state, sockets, config), runs
under a private child subreaper (reaper.py), uses a unique cgroup parent, and on stop
reports whatever it left behind: processes, mounts, cgroups, network devices.
The runtime under test is reached through a tiny wrapper script that logs each call
and execs the real binary, so a test can prove the daemon really called it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from . import leaks
from .procs import ReapedProcess, ReaperClient, run

CTR = "/usr/bin/ctr"
CONTAINERD = "/usr/bin/containerd"
DOCKERD = "/usr/sbin/dockerd"
# Debian's client, matching dockerd 20.10; /usr/local/bin/docker is a newer, unrelated build.
DOCKER = "/usr/bin/docker"
PODMAN = "/usr/bin/podman"
CONMON = "/usr/bin/conmon"
# podman raises nofile and nproc to 1048576+ by default: impossible without CAP_SYS_RESOURCE here.
PODMAN_ULIMITS = ["nofile=4096:4096", "nproc=4096:4096"]
DAEMON_START_TIMEOUT = 60.0

WRAPPER = """#!/bin/sh
# Log the call, then become the runtime under test.
printf '%s\\n' "$*" >>'{log}'
exec '{target}' "$@"
"""


def install_runtime(bin_dir: Path, name: str, target: str, calls_log: Path) -> Path:
    """Put the runtime under test at bin_dir/name, behind a call-logging wrapper."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(WRAPPER.format(log=calls_log, target=target))
    path.chmod(0o755)
    return path


class DaemonError(RuntimeError):
    pass


class PrivateDaemon:
    """What every fixture shares: a work dir, a reaper, a host snapshot and a runtime wrapper."""

    name = "daemon"
    runtime_name = "pyrunc"
    expected_cgroup_children: frozenset[str] = frozenset()

    def __init__(self, workdir: Path, runtime_bin: str, token: str) -> None:
        self.dir = workdir
        self.token = token
        self.cgroup_parent = f"pyrunc-daemons-{self.name}-{token}"
        self.calls_log = workdir / "runtime-calls.log"
        self.runtime = install_runtime(workdir / "bin", self.runtime_name, runtime_bin, self.calls_log)
        self.runtime_target = runtime_bin
        self.snapshot = leaks.HostSnapshot(
            private_dirs=[workdir],
            cgroup_names=self.cgroup_names_to_watch(),
            expected_children=self.expected_cgroup_children,
        )
        self.reaper = ReaperClient(workdir)
        self.daemon: ReapedProcess | None = None
        self.daemon_log = workdir / f"{self.name}.log"

    def cgroup_names_to_watch(self) -> list[str]:
        return [self.cgroup_parent]

    def start(self) -> None:
        raise NotImplementedError

    def runtime_calls(self) -> list[str]:
        if not self.calls_log.exists():
            return []
        return self.calls_log.read_text().splitlines()

    def start_daemon(self, argv: list[str], ready: Callable[[], bool]) -> None:
        log_fd = os.open(self.daemon_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        try:
            self.daemon = self.reaper.spawn(
                argv, stdin=null_fd, stdout=log_fd, stderr=log_fd, env=self.daemon_env()
            )
        finally:
            os.close(log_fd)
            os.close(null_fd)
        deadline = time.monotonic() + DAEMON_START_TIMEOUT
        while not ready():
            if self.daemon.poll() is not None:
                raise DaemonError(f"{self.name} exited {self.daemon.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise DaemonError(f"{self.name} not ready in {DAEMON_START_TIMEOUT}s: {self.log_tail()}")
            time.sleep(0.1)

    def daemon_env(self) -> dict[str, str] | None:
        """The daemon's environment (None: ours)."""
        return None

    def stop_daemon(self, timeout: float = 30.0) -> list[str]:
        if self.daemon is None or self.daemon.poll() is not None:
            return []
        self.daemon.send_signal(signal.SIGTERM)
        try:
            code = self.daemon.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.daemon.send_signal(signal.SIGKILL)
            self.daemon.wait(timeout=10)
            return [f"{self.name} ignored SIGTERM for {timeout}s"]
        # containerd exits 0 on SIGTERM; dockerd too. Anything else is worth reporting.
        return [] if code in (0, -signal.SIGTERM) else [f"{self.name} exited {code} on SIGTERM"]

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.daemon_log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def cleanup_objects(self) -> list[str]:
        """Remove containers/images through the daemon's own client before it stops."""
        return []

    def extra_leaks(self) -> list[str]:
        return []

    def stop(self) -> list[str]:
        """Tear everything down, whatever state it is in; return what was left behind."""
        problems: list[str] = []
        for step in (self.cleanup_objects, self.stop_daemon, self.stop_reaper, self.extra_leaks):
            try:
                problems += step()
            except Exception as exc:  # keep tearing down; report the failure
                problems.append(f"{step.__name__} failed: {exc!r}")
        problems += self.snapshot.leaks()
        undone = leaks.unmount_below(self.dir)
        problems += [f"could not unmount {p}" for p in undone]
        return problems

    def stop_reaper(self) -> list[str]:
        return [f"process left (killed at teardown): {p}" for p in self.reaper.stop()]


class Containerd(PrivateDaemon):
    """containerd with its own config.toml, root, state and gRPC socket.

    Containers are made with `ctr run --runc-binary <wrapper> --runc-root <private dir>`
    in a namespace unique to this instance, so the runtime state and the cgroups
    (/<namespace>/<id> by default) are private too.
    """

    name = "containerd"

    def __init__(self, workdir: Path, runtime_bin: str, token: str, *, cri: dict | None = None) -> None:
        self.namespace = f"pyrunc-daemons-{token}"
        self.runc_root = workdir / "runc-root"
        self.address = workdir / "containerd.sock"
        self.cri = cri
        self.shim_sockets_before = shim_sockets()
        super().__init__(workdir, runtime_bin, token)
        self.config_path = workdir / "config.toml"

    log_level = "info"

    def start(self) -> None:
        self.config_path.write_text(self.config_toml())
        argv = [CONTAINERD, "--config", str(self.config_path), "--log-level", self.log_level]
        self.start_daemon(argv, ready=self.is_ready)

    def cgroup_names_to_watch(self) -> list[str]:
        return [self.namespace, "k8s.io", self.cgroup_parent]

    def config_toml(self) -> str:
        d = self.dir
        disabled = [
            "io.containerd.snapshotter.v1.aufs",
            "io.containerd.snapshotter.v1.btrfs",
            "io.containerd.snapshotter.v1.devmapper",
            "io.containerd.snapshotter.v1.zfs",
            "io.containerd.tracing.processor.v1.otlp",
            "io.containerd.internal.v1.tracing",
        ]
        if self.cri is None:
            disabled.append("io.containerd.grpc.v1.cri")
        text = f"""version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = {json.dumps(disabled)}

[grpc]
  address = "{self.address}"

[ttrpc]
  address = "{self.address}.ttrpc"

[debug]
  address = "{d}/debug.sock"
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"""
        if self.cri is not None:
            text += self.cri_toml()
        return text

    def cri_toml(self) -> str:
        """The CRI plugin with a runtime entry named after the runtime: what a RuntimeClass names."""
        from .cri import RUNC_SHIM, Handler, cri_plugin_toml

        handler = Handler(self.runtime_name, RUNC_SHIM, str(self.runtime), str(self.runc_root))
        return cri_plugin_toml(self.cri["sandbox_image"], [handler], self.runtime_name, f"{self.dir}/cni")

    def is_ready(self) -> bool:
        if not self.address.exists():
            return False
        result = self.ctr("version", check=False)
        return result.returncode == 0

    def ctr(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 60.0,
        input: str | None = None,
        namespace: str | None = None,
    ):
        argv = [CTR, "--address", str(self.address), "--namespace", namespace or self.namespace, *args]
        return run(argv, check=check, timeout=timeout, input=input)

    def ctr_argv(self, *args: str) -> list[str]:
        return [CTR, "--address", str(self.address), "--namespace", self.namespace, *args]

    def run_flags(self) -> list[str]:
        """How `ctr run` is pointed at the runtime under test."""
        return ["--runc-binary", str(self.runtime), "--runc-root", str(self.runc_root)]

    def cleanup_objects(self) -> list[str]:
        problems = []
        namespaces = [self.namespace] + (["k8s.io"] if self.cri is not None else [])
        for ns in namespaces:
            for task in self.ctr("task", "ls", "-q", check=False, namespace=ns).stdout.split():
                problems.append(f"task {task} still present at teardown")
                self.ctr("task", "kill", "--signal", "SIGKILL", task, check=False, namespace=ns)
                self.ctr("task", "delete", "--force", task, check=False, namespace=ns)
            for container in self.ctr("container", "ls", "-q", check=False, namespace=ns).stdout.split():
                problems.append(f"container {container} still present at teardown")
                self.ctr("container", "delete", container, check=False, namespace=ns)
        return problems

    def extra_leaks(self) -> list[str]:
        problems = []
        if self.runc_root.exists():
            # <root>/<namespace>/ stays (the shim makes it); a <root>/<namespace>/<id>/ is a leak.
            states = [str(p) for p in self.runc_root.glob("*/*")]
            if states:
                problems.append(f"runtime state left in {self.runc_root}: {states}")
        # Other daemons on this machine make shims too: a socket some live shim still serves is
        # theirs (ours are all gone by now: the reaper reports any left), a dead one is a leak.
        new = sorted(shim_sockets() - self.shim_sockets_before)
        problems += [f"shim socket left: {s}" for s in new if stale(f"{SHIM_SOCKET_DIR}/{s}")]
        return problems


SHIM_SOCKET_DIR = "/run/containerd/s"


def stale(path: str) -> bool:
    """True if the unix socket at path is still there and nothing accepts connections on it."""
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(path)
        return False
    except FileNotFoundError:
        return False  # removed since it was listed: its shim cleaned up
    except OSError:
        return True
    finally:
        probe.close()


def shim_sockets() -> set[str]:
    """containerd 1.6 always puts shim sockets in /run/containerd/s, whatever its config says."""
    with contextlib.suppress(FileNotFoundError):
        return set(os.listdir(SHIM_SOCKET_DIR))
    return set()


class Dockerd(PrivateDaemon):
    """dockerd with private data-root, exec-root, pidfile and socket, its own managed containerd,
    no bridge and no firewall changes; the runtime under test added as `pyrunc` and made default."""

    name = "dockerd"

    def __init__(self, workdir: Path, runtime_bin: str, token: str) -> None:
        super().__init__(workdir, runtime_bin, token)
        self.socket = workdir / "docker.sock"
        self.client_env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(workdir),
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(workdir / "client"),
        }

    def start(self) -> None:
        d = self.dir
        # Without deprecated-key-path dockerd 20.10 writes its trust key to /etc/docker/key.json.
        (d / "daemon.json").write_text(json.dumps({"deprecated-key-path": str(d / "key.json")}))
        argv = [
            DOCKERD,
            "--config-file", str(d / "daemon.json"),
            "--data-root", str(d / "data"),
            "--exec-root", str(d / "exec"),
            "--pidfile", str(d / "docker.pid"),
            "-H", f"unix://{self.socket}",
            "--iptables=false", "--ip-forward=false", "--ip-masq=false", "--ip6tables=false",
            "--bridge=none", "--userland-proxy=false",
            "--exec-opt", "native.cgroupdriver=cgroupfs",
            # Absolute: a relative parent would land under this process's own (memory) cgroup.
            "--cgroup-parent", f"/{self.cgroup_parent}",
            "--add-runtime", f"{self.runtime_name}={self.runtime}",
            "--default-runtime", self.runtime_name,
        ]  # fmt: skip
        self.start_daemon(argv, ready=self.is_ready)

    def is_ready(self) -> bool:
        if not self.socket.exists():
            return False
        return self.docker("version", check=False).returncode == 0

    def docker_argv(self, *args: str) -> list[str]:
        return [DOCKER, *args]

    def docker(self, *args: str, check: bool = True, timeout: float = 60.0, input: str | None = None):
        return run([DOCKER, *args], check=check, timeout=timeout, input=input, env=self.client_env)

    def cleanup_objects(self) -> list[str]:
        problems = []
        ids = self.docker("ps", "-aq", check=False).stdout.split()
        for cid in ids:
            problems.append(f"container {cid} still present at teardown")
            self.docker("rm", "-f", cid, check=False)
        return problems


class Podman(PrivateDaemon):
    """podman (no daemon: each command runs under our reaper, so conmon is reaped) with private
    --root/--runroot/--tmpdir, its own containers.conf and storage.conf, cgroupfs manager,
    lowered default ulimits, and the runtime installed as `runc` so podman asks it for
    JSON logs (--log-format=json), which is how it shows the runtime's errors."""

    name = "podman"
    runtime_name = "runc"
    # conmon processes share <cgroup parent>/conmon, which podman never removes.
    expected_cgroup_children = frozenset({"conmon"})
    # The first command of a fresh storage sets it up (and `info` probes every helper binary):
    # seconds here, minutes under a guest's software emulation.
    first_call_timeout = 60.0

    def __init__(self, workdir: Path, runtime_bin: str, token: str) -> None:
        super().__init__(workdir, runtime_bin, token)
        d = workdir
        # The same runtime under its own name, as a user's containers.conf would name it.
        self.named_runtime = install_runtime(d / "named", "pyrunc", runtime_bin, self.calls_log)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(d),
            "CONTAINERS_CONF": str(d / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(d / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(d / "registries.conf"),
            "XDG_CONFIG_HOME": str(d / "config"),
            "XDG_DATA_HOME": str(d / "data"),
        }
        self.global_flags = [
            "--root", str(d / "storage"),
            "--runroot", str(d / "runroot"),
            "--tmpdir", str(d / "tmp"),
            "--runtime", self.runtime_name,
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
        ]  # fmt: skip

    def start(self) -> None:
        d = self.dir
        ulimits = json.dumps(PODMAN_ULIMITS)
        (d / "containers.conf").write_text(
            f"""[containers]
default_ulimits = {ulimits}
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
conmon_path = ["{CONMON}"]
events_logger = "file"
events_logfile_path = "{d}/events.log"
tmp_dir = "{d}/tmp"
runtime = "{self.runtime_name}"
# What the README tells users: a runtime entry named pyrunc, listed as JSON-capable.
runtime_supports_json = ["crun", "{self.runtime_name}", "pyrunc"]

[engine.runtimes]
{self.runtime_name} = ["{self.runtime}"]
pyrunc = ["{self.named_runtime}"]

[network]
network_config_dir = "{d}/networks"
"""
        )
        (d / "storage.conf").write_text(
            f"""[storage]
driver = "overlay"
graphroot = "{d}/storage"
runroot = "{d}/runroot"
"""
        )
        (d / "registries.conf").write_text("unqualified-search-registries = []\n")
        self.podman("info", timeout=self.first_call_timeout)

    def cgroup_names_to_watch(self) -> list[str]:
        return [self.cgroup_parent, "libpod_parent"]

    def run_flags(self) -> list[str]:
        """For podman run/create: a cgroup parent of our own (the default is /libpod_parent)."""
        return ["--cgroup-parent", f"/{self.cgroup_parent}"]

    def podman_argv(self, *args: str, runtime: str | None = None) -> list[str]:
        flags = list(self.global_flags)
        if runtime is not None:
            flags[flags.index("--runtime") + 1] = runtime
        return [PODMAN, *flags, *args]

    def podman(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 60.0,
        input: str | None = None,
        runtime: str | None = None,
    ):
        return self.reaper.run(
            self.podman_argv(*args, runtime=runtime), check=check, timeout=timeout, input=input, env=self.env
        )

    def cleanup_objects(self) -> list[str]:
        problems = []
        ids = self.podman("ps", "-aq", check=False).stdout.split()
        for cid in ids:
            problems.append(f"container {cid} still present at teardown")
            self.podman("rm", "-f", "-t", "0", cid, check=False)
        # Images live in the private storage; unmount its layers before the dirs go.
        self.podman("rmi", "-a", "-f", check=False)
        self.podman("system", "reset", "--force", check=False)
        return problems

    def extra_leaks(self) -> list[str]:
        """podman passes no --root: whatever it made must be gone from the runtime's default root."""
        created = {call.split()[-1] for call in self.runtime_calls() if " create --bundle " in call}
        listing = run([self.runtime_target, "list", "--format", "json"], check=False)
        if listing.returncode != 0:
            return [f"{self.runtime_target} list failed: {listing.stderr.strip()}"]
        listed = {state["id"] for state in json.loads(listing.stdout or "null") or []}
        return [f"runtime state left in the default root: {cid}" for cid in sorted(created & listed)]
