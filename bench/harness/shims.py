"""bench/shims: the runtime handlers of one containerd side by side, on the work Kubernetes does (issue 14).

Handlers (one private containerd, its CRI plugin with one runtime entry each):
  runc         containerd's runc shim + runc (the reference of every ratio)
  crun         the runc shim + crun
  pyrunc       the runc shim + pyrunc (BinaryName)
  pyrunc-shim  pyrunc's own shim, runtime_type io.containerd.pyrunc.v1 (when its binary exists)

Measurements: `ctr run --rm` of /bin/true (hyperfine, interleaved rounds as bench/run does); a CRI pod
from RunPodSandbox to its container running, and its teardown; ExecSync latency and calls per second
(one client, then several at once) against a running container; memory per pod (shim USS and the
pod's processes' USS from /proc/PID/smaps_rollup, the pod cgroup's charge; for pyrunc's shim also its
zygote's USS, and for every handler the PSS of its shims (and zygote) per pod, so that memory shared
with a zygote is counted). Timings of CRI calls are taken in this process (time.perf_counter around
the gRPC calls), in rounds that rotate the handlers.
"""

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from tools import crun_hugetlb

from . import cgroups, memory, procs, report
from .cli import loud, machine_info, note
from .stats import summarize
from .timing import BlockFailed, Spec, interleaved
from .workspace import REPO, Workspace

CTR = "/usr/bin/ctr"
CONTAINERD = "/usr/bin/containerd"
IMAGE_BUILDER = os.path.join(REPO, "oci-bundles", "build-image")
IMAGE = "localhost/pyrunc-busybox:latest"
PAUSE = "localhost/pyrunc-pause:latest"
CRI_NAMESPACE = "k8s.io"
SHIM_BINARY = "containerd-shim-pyrunc-v1"
HANDLER_ORDER = ("runc", "crun", "pyrunc", "pyrunc-shim")
LABELS = {
    "runc": "runc shim + runc",
    "crun": "runc shim + crun",
    "pyrunc": "runc shim + pyrunc",
    "pyrunc-shim": "pyrunc shim",
}
DEFAULT_PATHS = {
    "runc": "runc",
    "crun": "crun",
    "pyrunc": os.path.join(REPO, ".venv", "bin", "pyrunc"),
    "pyrunc-shim": os.path.join(REPO, ".venv", "bin", SHIM_BINARY),
}
# issue 14: the pyrunc shim's median over runc's (runc shim + runc) must not exceed these
TARGETS = {"exec_latency": 0.7, "pod_start": 1.0, "ctr_run": 1.0, "memory_shim_uss": 1.5}
MIB = 1024 * 1024
CALL_TIMEOUT = 60.0


class Settings(NamedTuple):
    rounds: int  # interleaved rounds of every measurement
    ctr_runs: int  # timed `ctr run --rm` per handler per round
    warmup: int  # untimed runs/pods/calls per handler per round
    pods: int  # pods started and torn down per handler per round
    exec_calls: int  # sequential ExecSync calls per handler per round
    exec_workers: int  # clients at once for the parallel ExecSync rate
    memory_pods: int  # pods alive at once when memory is measured


FULL = Settings(rounds=5, ctr_runs=10, warmup=1, pods=6, exec_calls=40, exec_workers=4, memory_pods=5)
QUICK = Settings(rounds=1, ctr_runs=2, warmup=1, pods=2, exec_calls=5, exec_workers=2, memory_pods=1)


class Measurement(NamedTuple):
    name: str
    title: str
    unit: str  # "s", "calls/s" or "bytes"


MEASUREMENTS = [
    Measurement("ctr_run", "ctr run --rm /bin/true", "s"),
    Measurement("pod_start", "pod: RunPodSandbox to container running", "s"),
    Measurement("pod_teardown", "pod: stop + remove container and sandbox", "s"),
    Measurement("exec_latency", "ExecSync `true`, one client", "s"),
    Measurement("exec_rate", "ExecSync calls per second, one client", "calls/s"),
    Measurement("exec_rate_parallel", "ExecSync calls per second, clients at once", "calls/s"),
    Measurement("memory_shim_uss", "shim USS per pod", "bytes"),
    Measurement("memory_zygote_uss", "pyrunc shim's zygote: USS (one for all pods)", "bytes"),
    Measurement("memory_shim_pss", "shims' (+ zygote's) PSS / pods", "bytes"),
    Measurement("memory_pod_uss", "USS of the pod's processes", "bytes"),
    Measurement("memory_total_uss", "memory per pod: shim + pod USS", "bytes"),
    Measurement("memory_pod_cgroup", "pod cgroup charge", "bytes"),
]
BY_NAME = {m.name: m for m in MEASUREMENTS}
GROUPS = {  # what --only selects: the measurements taken together
    "ctr_run": ["ctr_run"],
    "pod": ["pod_start", "pod_teardown"],
    "exec": ["exec_latency", "exec_rate", "exec_rate_parallel"],
    "memory": [
        "memory_shim_uss",
        "memory_zygote_uss",
        "memory_shim_pss",
        "memory_pod_uss",
        "memory_total_uss",
        "memory_pod_cgroup",
    ],
}
HANDLER_ONLY = {"memory_zygote_uss": "pyrunc-shim"}  # measurements one handler has
PER_POD = ["memory_shim_uss", "memory_pod_uss", "memory_total_uss", "memory_pod_cgroup"]
# The bench keeps the pyrunc shim's zygote through its phases (a quiet minute between two of them
# would otherwise let it go, and the next pod be a direct fork): what a node with steady pod starts has.
ZYGOTE_IDLE = "600"


class BadArgument(Exception):
    pass


class Unusable(Exception):
    pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/shims",
        description="containerd runtime handlers side by side: runc shim + runc/crun/pyrunc, pyrunc's shim",
    )
    parser.add_argument("--quick", action="store_true", help="one short round: a smoke test")
    parser.add_argument(
        "--out", metavar="FILE.json", help="results file (default: results/shims-<date>.json)"
    )
    parser.add_argument("--handlers", metavar="LIST", help=f"comma-separated, from {','.join(HANDLER_ORDER)}")
    parser.add_argument("--only", metavar="LIST", help=f"comma-separated, from {','.join(GROUPS)}")
    for name in HANDLER_ORDER:
        flag = "--shim" if name == "pyrunc-shim" else f"--{name}"
        parser.add_argument(flag, metavar="PATH", default=DEFAULT_PATHS[name], help=f"{name} binary")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, quick 1)")
    parser.add_argument("--tmpdir", metavar="DIR", help="parent of the temporary work directory")
    parser.add_argument(
        "--no-zygote",
        action="store_true",
        help="pyrunc's shim without its zygote (PYRUNC_SHIM_ZYGOTE=0: each shim a fork of its start)",
    )
    return parser.parse_args(argv)


def handler_path(args: argparse.Namespace, name: str) -> str:
    given = args.shim if name == "pyrunc-shim" else getattr(args, name)
    found = shutil.which(given) if os.sep not in given else (given if os.access(given, os.X_OK) else None)
    if found is None:
        flag = "--shim" if name == "pyrunc-shim" else f"--{name}"
        raise Unusable(f"{given} not found or not executable (pass {flag} PATH)")
    return os.path.abspath(found)


def version_of(path: str) -> str:
    done = procs.run([path, "--version"], timeout=60)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


class Node:
    """A private containerd (its own root, state, sockets, config) with the handlers' CRI entries,
    our child; we are a subreaper, so its shims become our children too."""

    def __init__(self, ws: Workspace, handlers: dict[str, str], zygote: bool = True) -> None:
        from tests.daemons.cri import PYRUNC_SHIM, RUNC_SHIM, Handler, cri_plugin_toml

        self.ws = ws
        self.dir = os.path.join(ws.dir, "ctd")
        os.mkdir(self.dir)
        self.zygote = zygote
        self.zygote_dir = os.path.join(ws.dir, "zygote")  # the pyrunc shim's, private (docs/SHIM.md)
        self.address = os.path.join(self.dir, "containerd.sock")
        self.namespace = ws.cgroup_parent.lstrip("/")  # ctr run's cgroups: /<namespace>/<id>
        self.handlers = handlers
        entries = []
        for name, path in handlers.items():
            if name == "pyrunc-shim":
                entries.append(Handler(name, PYRUNC_SHIM))
            else:
                entries.append(Handler(name, RUNC_SHIM, path, ws.root(name)))
        self.config = os.path.join(self.dir, "config.toml")
        with open(self.config, "w") as f:
            f.write(
                self.config_toml() + cri_plugin_toml(PAUSE, entries, "runc", os.path.join(self.dir, "cni"))
            )
        self.log_path = os.path.join(self.dir, "containerd.log")
        self.process: subprocess.Popen | None = None

    def config_toml(self) -> str:
        d = self.dir
        disabled = ["aufs", "btrfs", "devmapper", "zfs"]
        plugins = [f"io.containerd.snapshotter.v1.{name}" for name in disabled]
        plugins += ["io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
        return f"""version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = {json.dumps(plugins)}
[grpc]
  address = "{self.address}"
[ttrpc]
  address = "{self.address}.ttrpc"
[debug]
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"""

    def start(self) -> None:
        env = dict(os.environ)
        shim = self.handlers.get("pyrunc-shim")
        if shim:  # containerd looks shims up on its PATH; the shim keeps its state in PYRUNC_SHIM_ROOT
            env["PATH"] = os.path.dirname(shim) + ":" + env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            env["PYRUNC_SHIM_ROOT"] = self.ws.root("pyrunc-shim")
            env["PYRUNC_SHIM_ZYGOTE_DIR"] = self.zygote_dir
            env["PYRUNC_SHIM_ZYGOTE"] = "1" if self.zygote else "0"
            env["PYRUNC_SHIM_ZYGOTE_IDLE"] = ZYGOTE_IDLE
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [CONTAINERD, "--config", self.config],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
            )
        deadline = time.monotonic() + 60
        while not (os.path.exists(self.address) and self.ctr("version").returncode == 0):
            if self.process.poll() is not None:
                raise RuntimeError(f"containerd exited {self.process.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"containerd not answering after 60 s: {self.log_tail()}")
            time.sleep(0.1)

    def zygote_pids(self) -> list[int]:
        """The pyrunc shim's zygotes of this node: their command line names their socket in our
        zygote directory."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                    if b"zygote" in argv and any(a.startswith(self.zygote_dir.encode()) for a in argv):
                        found.append(int(entry))
        return found

    def stop_zygotes(self) -> list[str]:
        if not os.path.isdir(self.zygote_dir):
            return []
        from pyrunc.shim import zygote

        _stopped, problems = zygote.stop_all(self.zygote_dir)
        return [f"the pyrunc shim's zygote: {problem}" for problem in problems]

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError), open(self.log_path, errors="replace") as f:
            return " | ".join(f.read().splitlines()[-lines:])
        return ""

    def ctr_argv(self, *args: str, namespace: str | None = None) -> list[str]:
        return [CTR, "--address", self.address, "--namespace", namespace or self.namespace, *args]

    def ctr(self, *args: str, namespace: str | None = None, timeout: float = 120) -> procs.Completed:
        return procs.run(self.ctr_argv(*args, namespace=namespace), timeout=timeout)

    def ctr_run_argv(self, handler: str, container_id: str) -> list[str]:
        from tests.daemons.cri import PYRUNC_SHIM, RUNC_SHIM

        if handler == "pyrunc-shim":
            runtime = ["--runtime", PYRUNC_SHIM]
        else:
            path = self.handlers[handler]
            runtime = ["--runtime", RUNC_SHIM, "--runc-binary", path, "--runc-root", self.ws.root(handler)]
        return self.ctr_argv("run", "--rm", *runtime, IMAGE, container_id, "/bin/true")

    def stop(self) -> list[str]:
        """Every container of ours gone, containerd stopped, its shims gone, nothing mounted."""
        left = []
        for namespace in (self.namespace, CRI_NAMESPACE):
            for task in self.ctr("task", "ls", "-q", namespace=namespace).stdout.split():
                self.ctr("task", "kill", "--signal", "SIGKILL", task, namespace=namespace)
                self.ctr("task", "delete", "--force", task, namespace=namespace)
            for container in self.ctr("container", "ls", "-q", namespace=namespace).stdout.split():
                done = self.ctr("container", "delete", container, namespace=namespace)
                if done.returncode != 0:
                    left.append(f"container {container}: {done.stderr.strip()[-200:]}")
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                left.append("containerd ignored SIGTERM for 30 s")
        left += self.stop_zygotes()
        from tests.daemons.cri import shim_processes

        for pid in [*shim_processes(self.address), *self.zygote_pids()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            left.append(f"shim {pid} still running after containerd stopped (killed)")
        procs.reap_until_childless(timeout=10)
        left += [f"could not unmount {point}" for point in unmount_below(self.dir)]
        for handler in self.handlers:
            root = self.ws.root(handler)
            for namespace in os.scandir(root):  # <root>/<namespace>/<id>/: a container's state
                if namespace.is_dir():
                    states = [entry.name for entry in os.scandir(namespace.path) if entry.is_dir()]
                    left += [f"{handler} state left in {namespace.path}: {state}" for state in states]
        return left


def unmount_below(path: str) -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if point == path or point.startswith(path + "/"):
                points.append(point)
    undone = []
    for point in sorted(points, key=len, reverse=True):
        if subprocess.run(["umount", "-l", point], capture_output=True).returncode != 0:
            undone.append(point)
    return undone


class Bench:
    """One run: set-up, the measurements in interleaved rounds, the results document, teardown."""

    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        from tests.daemons.cri import CriClient

        self.args = args
        self.settings = settings
        self.ws = Workspace(args.tmpdir)
        self.node: Node | None = None
        self.client_class = CriClient
        self.cri: CriClient | None = None
        self.handlers: dict[str, str] = {}  # name -> binary (the OCI runtime, or the shim)
        self.versions: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self.hugetlb: bool | None = None  # None: not mounted by us; else whether we made the dir
        self.leftovers: list[str] = []
        self.sandboxes: list[str] = []
        self.pod_serial = 0

    # ---- set-up

    def choose_handlers(self, names: list[str], explicit: bool) -> None:
        for name in names:
            try:
                path = handler_path(self.args, name)
                if name != "pyrunc-shim":
                    self.versions[name] = version_of(path)
                else:
                    self.versions[name] = SHIM_BINARY
            except Unusable as why:
                if explicit:
                    raise BadArgument(f"--handlers: {name}: {why}") from None
                self.skipped[name] = str(why)
                (note if name == "pyrunc-shim" else loud)(f"{name} SKIPPED: {why}")
                continue
            self.handlers[name] = path
        if "runc" not in self.handlers:
            raise BadArgument("the runc handler is the reference of every ratio: it must be measured")

    def set_up(self) -> None:
        note(f"work directory {self.ws.dir}, cgroups under {self.ws.cgroup_parent}")
        if "crun" in self.handlers and crun_hugetlb.needed():
            self.hugetlb = crun_hugetlb.mount()
            note(f"mounted hugetlb as v1 at {crun_hugetlb.HUGETLB_V1} for crun 1.8.1 (undone at exit)")
        images = []
        for ref, command in ((IMAGE, []), (PAUSE, ["sleep", "2147483647"])):
            tar = os.path.join(self.ws.dir, ref.split("/")[1].split(":")[0] + ".tar")
            subprocess.run([IMAGE_BUILDER, tar, ref, *command], check=True, stdout=subprocess.DEVNULL)
            images.append(tar)
        self.node = Node(self.ws, self.handlers, zygote=not self.args.no_zygote)
        self.node.start()
        for namespace in (self.node.namespace, CRI_NAMESPACE):
            for tar in images:
                done = self.node.ctr("image", "import", tar, namespace=namespace)
                if done.returncode != 0:
                    raise RuntimeError(f"ctr image import {tar}: {done.stderr.strip()[-300:]}")
        self.cri = self.client_class(self.node.address)
        from tests.daemons.cri import wait_for_cri

        wait_for_cri(self.cri, self.node.log_tail)
        for name in list(self.handlers):
            self.probe(name)
        if "runc" not in self.handlers:
            raise BadArgument(f"the runc handler does not work here: {self.skipped.get('runc')}")

    def probe(self, name: str) -> None:
        """One `ctr run --rm` of /bin/true on the handler must succeed before anything is timed."""
        assert self.node is not None
        done = procs.run(self.node.ctr_run_argv(name, f"probe-{name}"), timeout=120)
        if done.returncode != 0:
            why = f"`ctr run --rm` of /bin/true exited {done.returncode}: {done.stderr.strip()[-300:]}"
            self.node.ctr("container", "delete", f"probe-{name}")
            if self.args.handlers is not None:
                raise BadArgument(f"--handlers: {name}: {why}")
            self.skipped[name] = why
            loud(f"{name} SKIPPED: {why}")
            del self.handlers[name]

    # ---- pods

    def pod_config(self, handler: str, tag: str, prefix: str = "pod"):
        from tests.daemons.cri import PodConfig

        self.pod_serial += 1
        name = f"{prefix}-{handler}-{tag}-{self.pod_serial}"
        return PodConfig(
            name=name,
            uid=f"{name}-{self.ws.tag}",
            namespace="bench",
            log_directory=os.path.join(self.ws.dir, "pods", name),
            cgroup_parent=f"{self.ws.cgroup_parent}/{name}",
        )

    def start_pod(self, handler: str, tag: str) -> tuple[str, str]:
        """RunPodSandbox, CreateContainer (sleep), StartContainer: (sandbox id, container id)."""
        assert self.cri is not None
        config = self.pod_config(handler, tag)
        sandbox = self.cri.run_pod_sandbox(config, runtime_handler=handler)
        self.sandboxes.append(sandbox)
        container = self.cri.create_container(sandbox, config, "work", IMAGE, ["sleep", "3600"], "work.log")
        self.cri.start_container(container)
        return sandbox, container

    def remove_pod(self, sandbox: str, container: str | None) -> None:
        """What a kubelet does when a pod goes: the container, then the sandbox."""
        assert self.cri is not None
        if container is not None:
            self.cri.stop_container(container, timeout=0)
            self.cri.remove_container(container)
        self.cri.stop_pod_sandbox(sandbox)
        self.cri.remove_pod_sandbox(sandbox)
        self.sandboxes.remove(sandbox)
        procs.reap_exited()  # the pod's shim, if it exited

    # ---- measurements

    def rotated(self, round_index: int) -> list[str]:
        names = list(self.handlers)
        shift = round_index % len(names)
        return names[shift:] + names[:shift]

    def ctr_run(self, progress: Callable) -> dict[str, dict]:
        assert self.node is not None
        specs = {name: Spec(self.node.ctr_run_argv(name, f"run-{name}")) for name in self.handlers}
        s = self.settings
        return {"ctr_run": interleaved("ctr_run", specs, s.rounds, s.ctr_runs, s.warmup, self.ws, progress)}

    def pods(self, progress: Callable) -> dict[str, dict]:
        start: dict[str, list[float]] = {name: [] for name in self.handlers}
        teardown: dict[str, list[float]] = {name: [] for name in self.handlers}
        errors: dict[str, str] = {}
        s = self.settings
        for round_index in range(s.rounds):
            for name in self.rotated(round_index):
                if name in errors:
                    continue
                try:
                    for index in range(s.warmup + s.pods):
                        t0 = time.perf_counter()
                        sandbox, container = self.start_pod(name, f"r{round_index}")
                        t1 = time.perf_counter()
                        self.remove_pod(sandbox, container)
                        t2 = time.perf_counter()
                        if index >= s.warmup:
                            start[name].append(t1 - t0)
                            teardown[name].append(t2 - t1)
                except Exception as failure:  # a gRPC error names the call; keep measuring the others
                    errors[name] = rpc_error(failure)
                progress("pod", name, round_index, s.rounds, start[name][-s.pods :], errors.get(name))
        return {
            "pod_start": results_of(start, errors),
            "pod_teardown": results_of(teardown, errors),
        }

    def execs(self, progress: Callable) -> dict[str, dict]:
        assert self.cri is not None
        cri = self.cri
        s = self.settings
        latency: dict[str, list[float]] = {name: [] for name in self.handlers}
        rate: dict[str, list[float]] = {name: [] for name in self.handlers}
        parallel: dict[str, list[float]] = {name: [] for name in self.handlers}
        errors: dict[str, str] = {}
        targets: dict[str, tuple[str, str]] = {}
        for name in self.handlers:
            try:
                targets[name] = self.start_pod(name, "exec")
            except Exception as failure:
                errors[name] = rpc_error(failure)
        try:
            for round_index in range(s.rounds):
                for name in self.rotated(round_index):
                    if name in errors:
                        continue
                    container = targets[name][1]
                    try:
                        for _ in range(s.warmup):
                            checked_exec(cri, container)
                        block = []
                        for _ in range(s.exec_calls):
                            t0 = time.perf_counter()
                            checked_exec(cri, container)
                            block.append(time.perf_counter() - t0)
                        latency[name] += block
                        rate[name].append(len(block) / sum(block))
                        parallel[name].append(parallel_rate(cri, container, s.exec_workers, s.exec_calls))
                    except Exception as failure:
                        errors[name] = rpc_error(failure)
                    progress(
                        "exec", name, round_index, s.rounds, latency[name][-s.exec_calls :], errors.get(name)
                    )
        finally:
            for name, (sandbox, container) in targets.items():
                try:
                    self.remove_pod(sandbox, container)
                except Exception as failure:
                    self.leftovers.append(f"exec pod of {name}: {rpc_error(failure)}")
        return {
            "exec_latency": results_of(latency, errors),
            "exec_rate": results_of(rate, errors),
            "exec_rate_parallel": results_of(parallel, errors),
        }

    def memory(self) -> dict[str, dict]:
        """Per handler: memory_pods pods at once, each with a running `sleep` container; then per pod
        the USS of its shim process(es), of every process in its cgroups, and its cgroup's charge;
        per handler the PSS of all its pods' shims and of pyrunc's zygote (what they share is divided
        among them: their sum is what the shims cost together), over the pods; the zygote's USS."""
        assert self.node is not None
        results: dict[str, dict] = {name: {} for name in GROUPS["memory"]}
        for name in self.handlers:
            pods: list[tuple[str, str]] = []
            try:
                for _ in range(self.settings.memory_pods):
                    pods.append(self.start_pod(name, "mem"))
                samples = [self.pod_memory(sandbox) for sandbox, _ in pods]
                shared = self.shared_memory(name, samples)
            except Exception as failure:
                for key in results:
                    results[key][name] = {"error": rpc_error(failure)}
                samples = []
            finally:
                for sandbox, container in pods:
                    try:
                        self.remove_pod(sandbox, container)
                    except Exception as failure:
                        self.leftovers.append(f"memory pod of {name}: {rpc_error(failure)}")
            if samples:
                for key in PER_POD:
                    values = [float(sample[key]) for sample in samples]
                    results[key][name] = {**summarize(values), "values": values}
                results["memory_shim_uss"][name]["processes"] = [len(sample["shims"]) for sample in samples]
                results["memory_pod_uss"][name]["processes"] = [sample["processes"] for sample in samples]
                for key, value in shared.items():
                    results[key][name] = value
            note(f"memory: {name} done ({self.settings.memory_pods} pods)")
        return results

    def shared_memory(self, name: str, samples: list[dict]) -> dict[str, dict]:
        """memory_shim_pss for every handler; memory_zygote_uss for pyrunc's shim (with how many of the
        pods' shims are the zygote's children: the rest were forks of their `start`)."""
        assert self.node is not None
        shims = sorted({pid for sample in samples for pid in sample["shims"]})
        zygotes = self.node.zygote_pids() if name == "pyrunc-shim" else []
        shim_pss = sum(pss(pid) for pid in shims)
        zygote_pss = sum(pss(pid) for pid in zygotes)
        per_pod = (shim_pss + zygote_pss) / len(samples)
        out = {
            "memory_shim_pss": {
                **summarize([per_pod]),
                "values": [per_pod],
                "shims_pss": shim_pss,
                "zygote_pss": zygote_pss,
                "pods": len(samples),
            }
        }
        if zygotes:
            zygote_uss = float(sum(uss(pid) for pid in zygotes))
            children = sum(1 for pid in shims if parent_of(pid) in zygotes)
            out["memory_zygote_uss"] = {
                **summarize([zygote_uss]),
                "values": [zygote_uss],
                "zygotes": len(zygotes),
                "pss": zygote_pss,
                "children": children,
                "shims": len(shims),
            }
            note(f"memory: {children} of the {len(shims)} pyrunc shims are children of the zygote")
        return out

    def pod_memory(self, sandbox: str) -> dict:
        from tests.daemons.cri import shim_processes as shim_processes

        assert self.node is not None
        shims = shim_processes(self.node.address, sandbox)
        if not shims:
            raise RuntimeError(f"no shim process names pod {sandbox}")
        pod_cgroup = self.pod_cgroup_dir(sandbox)
        pids = set()
        for directory, _dirs, _files in os.walk(pod_cgroup):
            pids.update(cgroups.procs(directory))
        shim_uss = sum(uss(pid) for pid in shims)
        pod_uss = sum(uss(pid) for pid in pids)
        return {
            "memory_shim_uss": shim_uss,
            "memory_pod_uss": pod_uss,
            "memory_total_uss": shim_uss + pod_uss,
            "memory_pod_cgroup": cgroups.memory_charge(pod_cgroup),
            "shims": shims,
            "processes": len(pids),
        }

    def pod_cgroup_dir(self, sandbox: str) -> str:
        """The memory cgroup of the pod: the parent of its sandbox's cgroup (our cgroup_parent)."""
        assert self.node is not None
        task = self.node.ctr("task", "ls", namespace=CRI_NAMESPACE).stdout.splitlines()
        pid = next((int(line.split()[1]) for line in task[1:] if line.split()[0] == sandbox), None)
        directory = cgroups.memory_cgroup_dir(pid) if pid else None
        if directory is None:
            raise RuntimeError(f"pod {sandbox}: its infra process has no memory cgroup")
        return os.path.dirname(directory)

    # ---- teardown

    def tear_down(self, keep_log: str | None = None) -> None:
        """Everything undone; containerd's log (the shims' logs are in it) copied to `keep_log`."""
        if self.cri is not None:
            for sandbox in list(self.sandboxes):
                try:
                    self.remove_pod(sandbox, None)
                except Exception as failure:
                    self.leftovers.append(f"pod {sandbox}: {rpc_error(failure)}")
            self.cri.close()
        if self.node is not None:
            try:
                self.leftovers += self.node.stop()
            except (OSError, procs.CommandTimeout) as failure:
                self.leftovers.append(f"containerd: {failure}")
        left = cgroups.remove_tree(self.ws.cgroup_parent, procs.reap_exited)
        self.leftovers += [f"cgroup {path} could not be removed" for path in left]
        if not procs.reap_until_childless(timeout=10):
            self.leftovers.append(f"child processes still alive: {procs.live_children()}")
        if self.hugetlb is not None:
            why = crun_hugetlb.unmount(self.hugetlb)
            if why:
                note(why)
        self.leftovers += [f"could not unmount {point}" for point in unmount_below(self.ws.dir)]
        if keep_log and self.node is not None and os.path.exists(self.node.log_path):
            shutil.copyfile(self.node.log_path, keep_log)
            note(f"containerd's log kept as {keep_log}")
        self.ws.remove()
        if self.leftovers:
            loud("cleanup left: " + "; ".join(self.leftovers))


def checked_exec(cri, container: str) -> None:
    result = cri.exec_sync(container, ["true"], timeout=30)
    if result.exit_code != 0:
        raise RuntimeError(f"ExecSync true exited {result.exit_code}: {result.stderr.strip()}")


def parallel_rate(cri, container: str, workers: int, calls: int) -> float:
    """`calls` ExecSync calls spread over `workers` clients at once: calls per second of wall time."""
    failures: list[str] = []
    lock = threading.Lock()

    def worker(count: int) -> None:
        for _ in range(count):
            try:
                checked_exec(cri, container)
            except Exception as failure:
                with lock:
                    failures.append(rpc_error(failure))
                return

    shares = [calls // workers + (1 if index < calls % workers else 0) for index in range(workers)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(worker, shares))
    elapsed = time.perf_counter() - t0
    if failures:
        raise RuntimeError(failures[0])
    return calls / elapsed


def uss(pid: int) -> int:
    usage = memory.process_memory(pid)
    return usage["uss"] if usage else 0


def pss(pid: int) -> int:
    usage = memory.process_memory(pid)
    return usage["pss"] if usage else 0


def parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def rpc_error(failure: Exception) -> str:
    details = getattr(failure, "details", None)
    if callable(details):
        return f"{failure.code().name}: {details()}"  # type: ignore[attr-defined]
    return f"{type(failure).__name__}: {failure}"


def results_of(samples: dict[str, list[float]], errors: dict[str, str]) -> dict[str, dict]:
    return {
        name: {"error": errors[name]} if name in errors else {**summarize(values), "times": values}
        for name, values in samples.items()
    }


def progress_printer() -> Callable:
    def progress(measurement, key, round_index, rounds, times, error) -> None:
        where = f"{measurement:<8} {key:<12} round {round_index + 1}/{rounds}"
        if error:
            note(f"{where}  FAILED: {error}")
        elif times:
            times = sorted(times)
            note(f"{where}  median {times[len(times) // 2] * 1e3:8.1f} ms  ({len(times)} samples)")

    return progress


# ---- the results table


def handlers_in(doc: dict) -> list[str]:
    return [name for name in HANDLER_ORDER if name in doc.get("handlers", {})]


def render(doc: dict) -> str:
    names = handlers_in(doc)
    others = [name for name in names if name != "runc"]
    settings = doc.get("settings", {})
    machine = doc.get("machine", {})
    load = "/".join(f"{x:.2f}" for x in machine.get("loadavg_start", [])) or "?"
    load_end = "/".join(f"{x:.2f}" for x in machine.get("loadavg_end", [])) or "?"
    lines = [
        f"containerd {doc.get('containerd', '?')}, measured {doc.get('date', '?')} ({doc.get('mode', '?')} "
        f"mode) on {machine.get('cpu_model', '?')}, {machine.get('cpus', '?')} CPUs, kernel "
        f"{machine.get('kernel', '?')}, cgroup {machine.get('cgroup_layout', '?')}; load average {load} at "
        f"start, {load_end} at end. Cells: median (min); ratios of medians to the runc shim + runc.",
        "",
    ]
    for name in names:
        info = doc["handlers"][name]
        line = f"- {name} ({LABELS[name]}): {info.get('version', '?')} ({info.get('path', '?')})"
        zygote = settings.get("pyrunc_shim_zygote")
        if name == "pyrunc-shim" and zygote:
            line += "; zygote " + ("on" if zygote.get("enabled") else "off (--no-zygote)")
            served = doc.get("measurements", {}).get("memory_zygote_uss", {}).get("results", {}).get(name, {})
            if "children" in served:
                line += f", serving {served['children']} of the {served['shims']} shims measured for memory"
        lines.append(line)
    for name, why in doc.get("skipped", {}).items():
        lines.append(f"- {name}: **not measured**: {why}")
    lines.append("")
    columns = ["measurement", "unit", *names, *(f"{n}/runc" for n in others), "target (issue 14)"]
    rows = []
    for m in MEASUREMENTS:
        entry = doc.get("measurements", {}).get(m.name)
        if entry is None:
            continue
        results = entry["results"]
        if m.unit == "bytes":
            label, divisor, decimals = "MiB", MIB, 2
        elif m.unit == "calls/s":
            label, divisor, decimals = "calls/s", 1.0, 1
        else:
            label, divisor, decimals = "ms", 1e-3, 1
        title = m.title
        if m.name == "exec_rate_parallel":
            title = f"ExecSync calls per second, {settings.get('exec_workers', '?')} clients at once"
        if m.name.startswith("memory_"):
            title += f" (of {settings.get('memory_pods', '?')})"
        cells = [report.cell(results.get(name), divisor, decimals) for name in names]
        ratios = [report.ratio(results, name, "runc") for name in others]
        target = ""
        if m.name in TARGETS and "pyrunc-shim" in names:
            value = report.ratio(results, "pyrunc-shim", "runc")
            verdict = "not measured" if value is None else ("met" if value <= TARGETS[m.name] else "MISSED")
            target = f"pyrunc-shim <= {TARGETS[m.name]:g}x: {verdict}"
        elif m.name in TARGETS:
            target = f"pyrunc-shim <= {TARGETS[m.name]:g}x (not measured)"
        rows.append([title, label, *cells, *("-" if r is None else f"{r:.2f}x" for r in ratios), target])
    lines += report.markdown(columns, rows)
    lines.append("")
    lines.append("calls/s: higher is better (its ratio too); everything else: lower is better.")
    errors = [
        f"- {name} / {key}: {result['error']}"
        for name, entry in doc.get("measurements", {}).items()
        for key, result in entry["results"].items()
        if "error" in result
    ]
    if errors:
        lines += ["", "Errors:", *errors]
    return "\n".join(lines) + "\n"


# ---- entry points


def default_out() -> str:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    return os.path.join(REPO, "results", f"shims-{stamp}.json")


def selected(only: str | None) -> list[str]:
    if not only:
        return list(GROUPS)
    groups = [group.strip() for group in only.split(",") if group.strip()]
    for group in groups:
        if group not in GROUPS:
            raise BadArgument(f"--only: unknown measurement {group!r} (choose from {', '.join(GROUPS)})")
    return groups


def handler_names(text: str | None) -> list[str]:
    if text is None:
        return list(HANDLER_ORDER)
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in HANDLER_ORDER]
    if unknown:
        raise BadArgument(
            f"--handlers: unknown handler {unknown[0]!r} (choose from {', '.join(HANDLER_ORDER)})"
        )
    if "runc" not in names:
        raise BadArgument("--handlers: runc is the reference of every ratio: include it")
    return names


def interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        settings = QUICK if args.quick else FULL
        if args.rounds is not None:
            if args.rounds < 1:
                raise BadArgument(f"--rounds: must be at least 1, got {args.rounds}")
            settings = settings._replace(rounds=args.rounds)
        groups = selected(args.only)
        names = handler_names(args.handlers)
        out = os.path.abspath(args.out or default_out())
        if args.tmpdir is not None and not os.path.isdir(args.tmpdir):
            raise BadArgument(f"--tmpdir: {args.tmpdir} is not a directory")
        os.makedirs(os.path.dirname(out), exist_ok=True)
    except (BadArgument, OSError) as bad:
        print(f"bench/shims: {bad}", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print("bench/shims: must run as root (containerd, containers, cgroups, mounts)", file=sys.stderr)
        return 1
    try:
        import grpc  # noqa: F401 (only to fail early with the fix)
    except ImportError:
        print("bench/shims: needs grpcio (tools/install --test puts it in .venv)", file=sys.stderr)
        return 1
    for tool in (CONTAINERD, CTR, shutil.which("hyperfine") or "hyperfine"):
        if not os.access(tool, os.X_OK):
            print(f"bench/shims: {tool} not found (apt-get install containerd hyperfine)", file=sys.stderr)
            return 1
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    procs.become_subreaper()
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    machine = machine_info()
    bench: Bench | None = None
    status = 0
    try:
        bench = Bench(args, settings)
        bench.choose_handlers(names, explicit=args.handlers is not None)
        bench.set_up()
        progress = progress_printer()
        measured: dict[str, dict] = {}
        for group in groups:
            if group == "ctr_run":
                measured.update(bench.ctr_run(progress))
            elif group == "pod":
                measured.update(bench.pods(progress))
            elif group == "exec":
                measured.update(bench.execs(progress))
            elif group == "memory":
                measured.update(bench.memory())
        machine["loadavg_end"] = list(os.getloadavg())
        doc = {
            "format": "pyrunc-bench-shims/1",
            "date": started,
            "mode": "quick" if args.quick else "full",
            "machine": machine,
            "containerd": (version_of(CONTAINERD).split() + ["?"] * 3)[2],  # containerd URL VERSION ...
            "settings": {
                **settings._asdict(),
                "workdir": bench.ws.dir,
                "cgroup_parent": bench.ws.cgroup_parent,
                "roots_fs": bench.ws.roots_fs,
                "pyrunc_shim_zygote": {"enabled": not args.no_zygote, "idle_seconds": float(ZYGOTE_IDLE)},
            },
            "handlers": {
                name: {"label": LABELS[name], "path": path, "version": bench.versions.get(name, "")}
                for name, path in bench.handlers.items()
            },
            "skipped": bench.skipped,
            "measurements": {
                name: {"title": BY_NAME[name].title, "unit": BY_NAME[name].unit, "results": measured[name]}
                for name in BY_NAME
                if name in measured
            },
        }
        with open(out, "w") as f:
            json.dump(doc, f, indent=1)
        print(render(doc), end="")
        note(f"results written to {out}")
        if any("error" in r for entry in doc["measurements"].values() for r in entry["results"].values()):
            status = 1
    except BadArgument as bad:
        print(f"bench/shims: {bad}", file=sys.stderr)
        status = 1
    except (RuntimeError, subprocess.CalledProcessError, BlockFailed) as failure:
        print(f"bench/shims: {failure}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        note("interrupted: cleaning up")
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort the cleanup
        if bench is not None:
            bench.tear_down(keep_log=out.removesuffix(".json") + ".containerd.log")
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if bench is not None and bench.leftovers and status == 0:
        status = 1
    return status
