"""Kubernetes' path over several runtime handlers of one containerd (issue 14): what a node with
RuntimeClasses has. Every test runs on each handler:

- `runc`: containerd's runc shim with runc (the reference: a failure there is the test's, not ours),
- `pyrunc`: the runc shim with BinaryName = pyrunc,
- `pyrunc-shim`: runtime_type io.containerd.pyrunc.v1, pyrunc's own shim (once this checkout has it).

Pods are host-network (no CNI); the sandbox image is the offline pause image of oci-bundles/build-image.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

grpc = pytest.importorskip("grpc", reason="the CRI tests talk gRPC: pip install grpcio")

from . import leaks  # noqa: E402 (after the grpc skip)
from .conftest import IMAGE_REF, PAUSE_REF, REPO, private_dir, require_root_and, serving  # noqa: E402
from .cri import (  # noqa: E402 (after the grpc skip)
    CONTAINER_CREATED,
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    NAMESPACE_CONTAINER,
    NAMESPACE_POD,
    PYRUNC_SHIM,
    PYRUNC_SHIM_BINARY,
    RUNC_SHIM,
    SANDBOX_NOTREADY,
    SANDBOX_READY,
    CriClient,
    Handler,
    PodConfig,
    cri_plugin_toml,
    serving_client,
    shim_processes,
    wait_for_cri,
)
from .daemons import CONTAINERD, CTR, SHIM_SOCKET_DIR, Containerd, install_runtime  # noqa: E402 (after the grpc skip)

pytestmark = pytest.mark.daemons

RUNC = "/usr/sbin/runc"
HANDLERS = ("runc", "pyrunc", "pyrunc-shim")
BOUND = 20.0  # seconds any wait below gives a process to go away


def pyrunc_shim_binary() -> str | None:
    """The shim next to the pyrunc under test (the venv's bin), else on PATH."""
    beside = REPO / ".venv" / "bin" / PYRUNC_SHIM_BINARY
    return str(beside) if os.access(beside, os.X_OK) else shutil.which(PYRUNC_SHIM_BINARY)


class HandlersContainerd(Containerd):
    """containerd whose CRI plugin has one runtime entry per handler. The runc-shim handlers reach
    their runtime through a call-logging wrapper (one log per handler) with a --root of their own;
    the pyrunc shim is found on containerd's PATH, as containerd looks shims up."""

    def __init__(self, workdir: Path, runtime_bin: str, token: str, shim: str | None) -> None:
        super().__init__(workdir, runtime_bin, token, cri={"sandbox_image": PAUSE_REF})
        self.shim = shim
        self.run_before = set(os.listdir("/run"))
        # Every pod made here and the shims that served it: the pyrunc shim's /run dirs are told
        # from those of other daemons on this machine by these.
        self.sandbox_ids: set[str] = set()
        self.shim_pids: set[int] = set()
        self.wrappers = {
            "runc": install_runtime(workdir / "bin-runc", "runc", RUNC, self.handler_log("runc")),
            "pyrunc": install_runtime(
                workdir / "bin-pyrunc", "pyrunc", runtime_bin, self.handler_log("pyrunc")
            ),
        }

    def handler_log(self, name: str) -> Path:
        return self.dir / f"calls-{name}.log"

    def handler_root(self, name: str) -> Path:
        return self.dir / "roots" / name

    def handlers(self) -> list[Handler]:
        found = [
            Handler(name, RUNC_SHIM, str(wrapper), str(self.handler_root(name)))
            for name, wrapper in self.wrappers.items()
        ]
        if self.shim:  # its state root comes from the environment (PYRUNC_SHIM_ROOT), not options
            found.append(Handler("pyrunc-shim", PYRUNC_SHIM))
        return found

    def cri_toml(self) -> str:
        return cri_plugin_toml(PAUSE_REF, self.handlers(), "runc", f"{self.dir}/cni")

    def daemon_env(self) -> dict[str, str] | None:
        if not self.shim:
            return None
        path = os.path.dirname(self.shim) + ":" + os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        return {
            **os.environ,
            "PATH": path,
            "PYRUNC_SHIM_ROOT": str(self.handler_root("pyrunc-shim")),
            # The shim's zygote (docs/SHIM.md): a private one, stopped at teardown.
            "PYRUNC_SHIM_ZYGOTE_DIR": str(self.dir / "zygote"),
        }

    def cleanup_objects(self) -> list[str]:
        problems = super().cleanup_objects()
        if self.shim:
            from pyrunc.shim import zygote

            _stopped, left = zygote.stop_all(str(self.dir / "zygote"))
            problems += [f"the pyrunc shim's zygote: {problem}" for problem in left]
        return problems

    def calls_of(self, handler: str) -> list[str]:
        log = self.handler_log(handler)
        return log.read_text().splitlines() if log.exists() else []

    def restart(self) -> None:
        problems = self.stop_daemon()
        assert not problems, problems
        self.start()

    def extra_leaks(self) -> list[str]:
        problems = [p for p in super().extra_leaks() if not p.startswith("runtime state left")]
        for handler in HANDLERS:
            root = self.handler_root(handler)
            states = [str(p) for p in root.glob("*/*")] if root.is_dir() else []
            if states:
                problems.append(f"runtime state of handler {handler} left: {states}")
        # The pyrunc shim's work dir is /run/pyrunc-shim-<its pid> (or <its socket's name>[:20]).
        ours = {f"pyrunc-shim-{pid}" for pid in self.shim_pids}
        ours |= {f"pyrunc-shim-{shim_socket(self, sandbox).name[:20]}" for sandbox in self.sandbox_ids}
        left = sorted((set(os.listdir("/run")) - self.run_before) & ours)
        problems += [f"shim work dir left: /run/{p}" for p in left]
        return problems


@pytest.fixture(scope="module")
def node(
    runtime_bin: str, token: str, image_tar: Path, pause_image_tar: Path
) -> Iterator[HandlersContainerd]:
    require_root_and(CONTAINERD, CTR, RUNC)
    daemon = HandlersContainerd(private_dir("crih-"), runtime_bin, token, pyrunc_shim_binary())
    yield from serving(daemon, image_tar, pause_image_tar, namespace="k8s.io")


@pytest.fixture(scope="module")
def cri(node: HandlersContainerd) -> Iterator[CriClient]:
    with serving_client(str(node.address), lambda: node.log_tail(200)) as client:
        yield client


@pytest.fixture(params=HANDLERS)
def handler(request: pytest.FixtureRequest, node: HandlersContainerd) -> str:
    name: str = request.param
    if name == "pyrunc-shim" and not node.shim:
        if (REPO / "pyrunc" / "shim").is_dir():
            pytest.fail(f"this checkout has pyrunc/shim but no {PYRUNC_SHIM_BINARY} (run tools/install)")
        pytest.skip(f"this checkout has no pyrunc shim ({PYRUNC_SHIM_BINARY}, issue 14) yet")
    return name


class Pods:
    """Pods made by one test; whatever the test leaves is stopped and removed, then its cgroup."""

    def __init__(self, cri: CriClient, node: HandlersContainerd, handler: str, name: str) -> None:
        self.cri, self.node, self.handler, self.name = cri, node, handler, name
        self.sandboxes: list[str] = []
        self.cgroups: list[str] = []

    def config(self, suffix: str = "", pid: int = NAMESPACE_CONTAINER) -> PodConfig:
        name = f"{self.name}{suffix}"
        return PodConfig(
            name=name,
            uid=f"{name}-{self.node.token}",
            namespace="default",
            log_directory=str(self.node.dir / "pods" / name),
            cgroup_parent=f"/{self.node.cgroup_parent}/{name}",
            pid=pid,
        )

    def run(self, config: PodConfig) -> str:
        self.cgroups.append(config.cgroup_parent)
        sandbox_id = self.cri.run_pod_sandbox(config, runtime_handler=self.handler)
        self.sandboxes.append(sandbox_id)
        self.node.sandbox_ids.add(sandbox_id)
        self.node.shim_pids.update(shim_pids(self.node, sandbox_id))
        return sandbox_id

    def container(self, sandbox_id: str, config: PodConfig, name: str, command: list[str]) -> str:
        container_id = self.cri.create_container(sandbox_id, config, name, IMAGE_REF, command, f"{name}.log")
        self.cri.start_container(container_id)
        return container_id

    def close(self) -> None:
        try:
            for sandbox_id in self.sandboxes:
                if sandbox_id in self.cri.list_pod_sandbox_ids():
                    self.cri.stop_pod_sandbox(sandbox_id)  # stops its containers too
                    self.cri.remove_pod_sandbox(sandbox_id)  # and removes them
        finally:
            for cgroup in self.cgroups:
                remove_pod_cgroup(cgroup)


def remove_pod_cgroup(pod_cgroup: str) -> None:
    """The kubelet removes a pod's cgroup parent after the pod: fail if a container's cgroup is left."""
    left = []
    for hierarchy in leaks.cgroup_parents():
        path = hierarchy / pod_cgroup.lstrip("/")
        if path.is_dir():
            left += [str(p) for p in path.iterdir() if p.is_dir()]
            left += leaks.remove_cgroup_tree(path)
    assert not left, f"container cgroups left in the pod's cgroup: {left}"


@pytest.fixture
def pods(
    cri: CriClient, node: HandlersContainerd, handler: str, request: pytest.FixtureRequest
) -> Iterator[Pods]:
    short = request.node.originalname.removeprefix("test_").replace("_", "-")[:18].strip("-")
    made = Pods(cri, node, handler, f"{short}-{handler}")
    try:
        yield made
    finally:
        made.close()


def assert_runs_on(node: HandlersContainerd, handler: str, object_id: str) -> None:
    """containerd recorded the handler's shim for it, and only that handler's runtime saw it."""
    info = json.loads(node.ctr("container", "info", object_id, namespace="k8s.io").stdout)
    expected_shim = PYRUNC_SHIM if handler == "pyrunc-shim" else RUNC_SHIM
    assert info["Runtime"]["Name"] == expected_shim, info["Runtime"]
    for other in ("runc", "pyrunc"):
        created = any(" create --bundle " in c and c.endswith(f" {object_id}") for c in node.calls_of(other))
        assert created == (other == handler), (other, node.calls_of(other))


def host_processes_with(argv: list[str]) -> list[int]:
    """Pids on the host whose command line is exactly argv."""
    wanted = "\0".join(argv).encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read() == wanted:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def shim_pids(node: HandlersContainerd, sandbox_id: str) -> list[int]:
    return shim_processes(str(node.address), sandbox_id)


def wait_gone(pids: list[int], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while any(os.path.exists(f"/proc/{pid}") and not is_zombie(pid) for pid in pids):
        assert time.monotonic() < deadline, f"{what} still alive {BOUND}s later: {pids}"
        time.sleep(0.1)


def is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def test_pod_and_container_lifecycle(
    cri: CriClient, pods: Pods, node: HandlersContainerd, handler: str
) -> None:
    config = pods.config()
    sandbox_id = pods.run(config)
    assert cri.pod_sandbox_state(sandbox_id) == SANDBOX_READY
    assert_runs_on(node, handler, sandbox_id)

    command = ["sh", "-c", "echo from-cri; exec sleep 1000"]
    container_id = cri.create_container(sandbox_id, config, "work", IMAGE_REF, command, "work.log")
    assert cri.container_status(container_id).state == CONTAINER_CREATED
    cri.start_container(container_id)
    assert cri.container_status(container_id).state == CONTAINER_RUNNING
    assert_runs_on(node, handler, container_id)

    result = cri.exec_sync(container_id, ["sh", "-c", "echo $((6*7)); echo oops >&2; exit 3"])
    assert (result.stdout, result.stderr, result.exit_code) == ("42\n", "oops\n", 3)
    assert cri.exec_sync(container_id, ["true"]).exit_code == 0

    log = Path(config.log_directory) / "work.log"
    deadline = time.monotonic() + BOUND
    while "from-cri" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "container output never reached the CRI log"
        time.sleep(0.1)

    cri.stop_container(container_id, timeout=0)
    status = cri.container_status(container_id)
    assert (status.state, status.exit_code) == (CONTAINER_EXITED, 137), status
    cri.remove_container(container_id)
    with pytest.raises(grpc.RpcError) as gone:
        cri.container_status(container_id)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND

    shims = shim_pids(node, sandbox_id)
    assert shims, f"no shim process for pod {sandbox_id}"
    cri.stop_pod_sandbox(sandbox_id)
    assert cri.pod_sandbox_state(sandbox_id) == SANDBOX_NOTREADY
    cri.remove_pod_sandbox(sandbox_id)
    assert sandbox_id not in cri.list_pod_sandbox_ids()
    wait_gone(shims, "the pod's shim")


def test_container_stats(cri: CriClient, pods: Pods, handler: str) -> None:
    config = pods.config()
    sandbox_id = pods.run(config)
    container_id = pods.container(sandbox_id, config, "measured", ["sh", "-c", "echo busy; exec sleep 1000"])
    assert (
        cri.exec_sync(container_id, ["sh", "-c", "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done"]).exit_code
        == 0
    )
    # From the container's cgroup: sh, the loop exec'd into it and sleep ran there, so both are non-zero.
    stats = cri.container_stats(container_id)
    assert stats.container_id == container_id
    assert stats.cpu_nanoseconds and stats.cpu_nanoseconds > 0, stats
    assert stats.working_set_bytes and stats.working_set_bytes > 0, stats


def namespace_of(cri: CriClient, container_id: str, kind: str) -> str:
    result = cri.exec_sync(container_id, ["readlink", f"/proc/self/ns/{kind}"])
    assert result.exit_code == 0, result
    return result.stdout.strip()


@pytest.mark.parametrize("pid_mode", [NAMESPACE_POD, NAMESPACE_CONTAINER], ids=["pid=POD", "pid=CONTAINER"])
def test_pod_shares_ipc_and_pid_namespaces(cri: CriClient, pods: Pods, handler: str, pid_mode: int) -> None:
    """pid=POD (shareProcessNamespace): both containers and the infra process in one pid namespace;
    pid=CONTAINER: one each. The pod's ipc namespace is shared either way."""
    config = pods.config(pid=pid_mode)
    sandbox_id = pods.run(config)
    first = pods.container(sandbox_id, config, "first", ["sleep", "1001"])
    second = pods.container(sandbox_id, config, "second", ["sleep", "1002"])

    host_ipc, host_pid = os.readlink("/proc/self/ns/ipc"), os.readlink("/proc/self/ns/pid")
    assert namespace_of(cri, first, "ipc") == namespace_of(cri, second, "ipc") != host_ipc
    first_pid, second_pid = namespace_of(cri, first, "pid"), namespace_of(cri, second, "pid")
    assert host_pid not in (first_pid, second_pid)
    listing = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' <$f; echo; done"
    seen = cri.exec_sync(second, ["sh", "-c", listing]).stdout.splitlines()
    if pid_mode == NAMESPACE_POD:
        assert first_pid == second_pid
        assert "sleep 1001 " in seen and "sleep 2147483647 " in seen, seen  # the other one, the infra
    else:
        assert first_pid != second_pid
        assert "sleep 1001 " not in seen and "sleep 1002 " in seen, seen


def test_exec_that_never_exits_is_killed_at_its_timeout(cri: CriClient, pods: Pods, handler: str) -> None:
    config = pods.config()
    sandbox_id = pods.run(config)
    container_id = pods.container(sandbox_id, config, "probe", ["sleep", "1000"])
    stuck = ["sleep", "4242"]

    with pytest.raises(grpc.RpcError) as timed_out:
        cri.exec_sync(container_id, stuck, timeout=1)
    assert "timeout" in (timed_out.value.details() or ""), timed_out.value.details()
    wait_gone(host_processes_with(stuck), "the exec'd process")
    assert not host_processes_with(stuck)

    # The container lives on and takes probes as before.
    assert cri.container_status(container_id).state == CONTAINER_RUNNING
    assert cri.exec_sync(container_id, ["echo", "alive"]).stdout == "alive\n"


def test_exec_probes_from_several_clients_at_once(cri: CriClient, pods: Pods, handler: str) -> None:
    """Probes of many pods land on a node at once: 4 clients, 12 ExecSync each, into one container.
    Every call answers with its own output and exit code (bench/shims once saw one never answer)."""
    config = pods.config()
    sandbox_id = pods.run(config)
    container_id = pods.container(sandbox_id, config, "probed", ["sleep", "1000"])

    def probe(client: int) -> list[tuple[str, int]]:
        return [
            (r.stdout, r.exit_code)
            for r in (
                cri.exec_sync(container_id, ["sh", "-c", f"echo {client}-{n}; exit {n % 3}"], timeout=20)
                for n in range(12)
            )
        ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(probe, range(4)))
    assert answers == [[(f"{c}-{n}\n", n % 3) for n in range(12)] for c in range(4)]
    assert cri.container_status(container_id).state == CONTAINER_RUNNING


def test_containerd_restart_recovers_running_pods(
    cri: CriClient, pods: Pods, node: HandlersContainerd, handler: str
) -> None:
    config = pods.config()
    sandbox_id = pods.run(config)
    container_id = pods.container(sandbox_id, config, "survivor", ["sleep", "1000"])
    shims = shim_pids(node, sandbox_id)
    assert shims, f"no shim process for pod {sandbox_id}"

    node.restart()
    wait_for_cri(cri, lambda: node.log_tail(200))

    assert shim_pids(node, sandbox_id) == shims, "the pod's shim was replaced, not reconnected"
    assert cri.pod_sandbox_state(sandbox_id) == SANDBOX_READY
    assert cri.container_status(container_id).state == CONTAINER_RUNNING
    assert cri.exec_sync(container_id, ["echo", "reconnected"]).stdout == "reconnected\n"
    cri.stop_container(container_id, timeout=0)
    assert cri.container_status(container_id).exit_code == 137
    cri.remove_container(container_id)
    cri.stop_pod_sandbox(sandbox_id)
    cri.remove_pod_sandbox(sandbox_id)
    wait_gone(shims, "the pod's shim")


def shim_socket(node: HandlersContainerd, sandbox_id: str) -> Path:
    """Where containerd 1.6 (and the pyrunc shim, alike) puts a pod's shim socket."""
    digest = hashlib.sha256(os.path.join(str(node.address), "k8s.io", sandbox_id).encode()).hexdigest()
    return Path(SHIM_SOCKET_DIR) / digest


def test_killed_shim_is_cleaned_up_after(
    cri: CriClient, pods: Pods, node: HandlersContainerd, handler: str
) -> None:
    """SIGKILL of a pod's shim: containerd sees the connection drop, runs the shim binary's
    `delete` (which kills what the dead shim ran and unmounts its rootfs) and reports the pod's
    tasks exited; the kubelet's stop and remove then go through, and nothing is left."""
    config = pods.config()
    sandbox_id = pods.run(config)
    container_id = pods.container(sandbox_id, config, "orphan", ["sleep", "1003"])
    shims = shim_pids(node, sandbox_id)
    assert shims, f"no shim process for pod {sandbox_id}"
    workload = host_processes_with(["sleep", "1003"])
    assert workload, "the container's process is not running"
    socket = shim_socket(node, sandbox_id)
    assert socket.exists(), f"no shim socket at {socket}"

    for pid in shims:
        os.kill(pid, signal.SIGKILL)
    wait_gone(shims, "the killed shim")
    deadline = time.monotonic() + BOUND
    while cri.container_status(container_id).state != CONTAINER_EXITED:
        assert time.monotonic() < deadline, "containerd never reported the container exited"
        time.sleep(0.1)
    wait_gone(workload, "the dead shim's container process")
    deadline = time.monotonic() + BOUND
    while cri.pod_sandbox_state(sandbox_id) != SANDBOX_NOTREADY:
        assert time.monotonic() < deadline, "containerd never reported the sandbox not ready"
        time.sleep(0.1)

    cri.remove_container(container_id)
    cri.stop_pod_sandbox(sandbox_id)
    cri.remove_pod_sandbox(sandbox_id)
    assert sandbox_id not in cri.list_pod_sandbox_ids()
    # containerd runs the shim binary's `delete` for what the dead shim ran: let those finish.
    wait_gone(shim_pids(node, sandbox_id), "the shim binary's cleanup")
    # containerd 1.6 removes a dead shim's socket only when a shim binds that address again; the
    # runc shim's `delete` leaves it too. Take it away, so the fixture's check sees anything else.
    socket.unlink(missing_ok=True)
    if handler == "pyrunc-shim":
        names = [f"pyrunc-shim-{pid}" for pid in shims] + [f"pyrunc-shim-{socket.name[:20]}"]
        left = [Path("/run", name) for name in names if Path("/run", name).exists()]
        for path in left:
            shutil.rmtree(path)
        assert not left, "the pyrunc shim's work dir outlived it (its delete must remove it)"
