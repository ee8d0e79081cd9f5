"""Just enough of the Kubernetes CRI (runtime.v1) to drive containerd's CRI plugin as a kubelet would.

There is no crictl in Debian 12, so this talks gRPC (grpcio) with hand-encoded protobuf.
Field numbers are those of k8s.io/cri-api pkg/apis/runtime/v1/api.proto.
Also the runtime handlers of containerd's CRI config (what a RuntimeClass's `handler` names), shared
by tests/daemons and bench/shims so both describe a handler the same way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pyrunc.shim.wire import blob, decode, integer

SERVICE = "/runtime.v1.RuntimeService/"
# NamespaceMode: POD (0, the default) shares the pod's namespace between its containers, CONTAINER
# gives each its own, NODE is the host's (here: host network, no CNI needed).
NAMESPACE_POD = 0
NAMESPACE_CONTAINER = 1
NAMESPACE_NODE = 2
CONTAINER_CREATED = 0
CONTAINER_RUNNING = 1
CONTAINER_EXITED = 2
SANDBOX_READY = 0
SANDBOX_NOTREADY = 1
RUNC_SHIM = "io.containerd.runc.v2"
PYRUNC_SHIM = "io.containerd.pyrunc.v1"
PYRUNC_SHIM_BINARY = "containerd-shim-pyrunc-v1"


@dataclass
class Handler:
    """One `runtimes.<name>` entry of the CRI plugin: a shim (runtime_type) and, for the runc shim,
    the OCI runtime it runs (BinaryName) and that runtime's --root."""

    name: str
    runtime_type: str
    binary: str | None = None
    root: str | None = None

    def toml(self) -> str:
        table = f'[plugins."io.containerd.grpc.v1.cri".containerd.runtimes."{self.name}"]'
        text = f'  {table}\n    runtime_type = "{self.runtime_type}"\n'
        options = []
        if self.binary:
            options.append(f'BinaryName = "{self.binary}"')
        if self.root:
            options.append(f'Root = "{self.root}"')
        if options:
            text += f"    {table[:-1]}.options]\n" + "".join(f"      {o}\n" for o in options)
        return text


def cri_plugin_toml(sandbox_image: str, handlers: list[Handler], default: str, cni_dir: str) -> str:
    """The CRI plugin's section: host-network pods (the CNI dirs exist but stay empty),
    restrict_oom_score_adj since this VM has no CAP_SYS_RESOURCE, cgroupfs driver."""
    text = f"""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  disable_cgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_dir}/bin"
    conf_dir = "{cni_dir}/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "{default}"
"""
    return text + "".join(handler.toml() for handler in handlers)


# ---- protobuf wire format (pyrunc.shim.wire: integer, blob, decode) ----


def text(field: int, value: str) -> bytes:
    return blob(field, value.encode()) if value else b""


def texts(field: int, values: list[str]) -> bytes:
    return b"".join(blob(field, v.encode()) for v in values)


def first(fields: dict[int, list], number: int, default=None):
    return fields.get(number, [default])[0]


def signed32(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


# ---- the few messages the tests need ----


@dataclass
class PodConfig:
    name: str
    uid: str
    namespace: str
    log_directory: str
    cgroup_parent: str
    pid: int = NAMESPACE_CONTAINER  # as a kubelet asks unless the pod says shareProcessNamespace
    ipc: int = NAMESPACE_POD

    def namespace_options(self) -> bytes:
        return integer(1, NAMESPACE_NODE) + integer(2, self.pid) + integer(3, self.ipc)

    def encode(self) -> bytes:
        metadata = text(1, self.name) + text(2, self.uid) + text(3, self.namespace)
        security = blob(1, self.namespace_options())
        linux = text(1, self.cgroup_parent) + blob(2, security)
        return blob(1, metadata) + text(3, self.log_directory) + blob(8, linux)


@dataclass
class ContainerStatus:
    state: int
    exit_code: int
    reason: str
    message: str


@dataclass
class ContainerStats:
    container_id: str
    cpu_nanoseconds: int | None  # cumulative, all cores
    working_set_bytes: int | None


@dataclass
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int


class CriClient:
    def __init__(self, socket_path: str) -> None:
        import grpc  # here, not at the top: daemons.py reads the handler config without grpcio

        self.channel = grpc.insecure_channel(f"unix://{socket_path}")

    def close(self) -> None:
        self.channel.close()

    def call(self, method: str, request: bytes, timeout: float = 60.0) -> dict[int, list]:
        stub = self.channel.unary_unary(SERVICE + method)
        return decode(stub(request, timeout=timeout))

    def version(self) -> str:
        return first(self.call("Version", text(1, "v1")), 2, b"").decode()

    def run_pod_sandbox(self, pod: PodConfig, runtime_handler: str) -> str:
        reply = self.call("RunPodSandbox", blob(1, pod.encode()) + text(2, runtime_handler))
        return first(reply, 1).decode()

    def create_container(
        self, sandbox_id: str, pod: PodConfig, name: str, image: str, command: list[str], log_path: str
    ) -> str:
        # linux.security_context.namespace_options: the pod's, as a kubelet copies them
        linux = blob(2, blob(3, pod.namespace_options()))
        config = (
            blob(1, text(1, name))  # metadata
            + blob(2, text(1, image))  # image spec
            + texts(3, command)
            + text(11, log_path)
            + blob(15, linux)
        )
        request = text(1, sandbox_id) + blob(2, config) + blob(3, pod.encode())
        return first(self.call("CreateContainer", request), 1).decode()

    def start_container(self, container_id: str) -> None:
        self.call("StartContainer", text(1, container_id))

    def exec_sync(self, container_id: str, cmd: list[str], timeout: int = 30) -> ExecResult:
        reply = self.call("ExecSync", text(1, container_id) + texts(2, cmd) + integer(3, timeout))
        return ExecResult(
            stdout=first(reply, 1, b"").decode(),
            stderr=first(reply, 2, b"").decode(),
            exit_code=signed32(first(reply, 3, 0)),
        )

    def container_stats(self, container_id: str) -> ContainerStats:
        stats = decode(first(self.call("ContainerStats", text(1, container_id)), 1, b""))
        attributes = decode(first(stats, 1, b""))

        def wrapped(usage: bytes | None, number: int) -> int | None:
            if usage is None:
                return None
            value = first(decode(usage), number)  # a UInt64Value: absent means not reported
            return None if value is None else first(decode(value), 1, 0)

        return ContainerStats(
            container_id=first(attributes, 1, b"").decode(),
            cpu_nanoseconds=wrapped(first(stats, 2), 2),
            working_set_bytes=wrapped(first(stats, 3), 2),
        )

    def pod_sandbox_state(self, sandbox_id: str) -> int:
        status = decode(first(self.call("PodSandboxStatus", text(1, sandbox_id)), 1, b""))
        return first(status, 3, SANDBOX_READY)

    def container_status(self, container_id: str) -> ContainerStatus:
        status = decode(first(self.call("ContainerStatus", text(1, container_id)), 1, b""))
        return ContainerStatus(
            state=first(status, 3, 0),
            exit_code=signed32(first(status, 7, 0)),
            reason=first(status, 10, b"").decode(),
            message=first(status, 11, b"").decode(),
        )

    def stop_container(self, container_id: str, timeout: int = 0) -> None:
        self.call("StopContainer", text(1, container_id) + integer(2, timeout))

    def remove_container(self, container_id: str) -> None:
        self.call("RemoveContainer", text(1, container_id))

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("StopPodSandbox", text(1, sandbox_id))

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("RemovePodSandbox", text(1, sandbox_id))

    def list_pod_sandbox_ids(self) -> list[str]:
        reply = self.call("ListPodSandbox", b"")
        return [first(decode(item), 1, b"").decode() for item in reply.get(1, [])]


def wait_for_cri(client: CriClient, log_tail: Callable[[], str], timeout: float = 30.0) -> None:
    """containerd answers ctr before its CRI plugin serves: wait (bounded) for Version to answer."""
    import grpc

    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.version() == "containerd":
                return
        except grpc.RpcError:
            pass
        log = log_tail()
        if "failed to load plugin io.containerd.grpc.v1.cri" in log:
            raise RuntimeError(f"containerd's CRI plugin did not load:\n{log}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"containerd's CRI plugin not serving after {timeout}s:\n{log}")
        time.sleep(0.1)


@contextmanager
def serving_client(address: str, log_tail: Callable[[], str]) -> Iterator[CriClient]:
    """A client of the containerd at `address`, once its CRI plugin answers; closed after."""
    client = CriClient(address)
    try:
        wait_for_cri(client, log_tail)
        yield client
    finally:
        client.close()


def shim_processes(containerd_address: str, object_id: str | None = None) -> list[int]:
    """Pids of the shims the containerd at `containerd_address` started (for the pod or container
    `object_id`: containerd starts a pod's shim with `-id <sandbox id>`). A shim is a program named
    containerd-shim-*, or an interpreter running one (the pyrunc shim is `python -IS <script> ...`)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not any(os.path.basename(arg).startswith("containerd-shim-") for arg in argv[:3]):
            continue
        if containerd_address in argv and (object_id is None or object_id in argv):
            found.append(int(entry))
    return found
