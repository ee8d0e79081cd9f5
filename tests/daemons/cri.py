"""Just enough of the Kubernetes CRI (runtime.v1) to drive containerd's CRI plugin as a kubelet would.

There is no crictl in Debian 12, so this talks gRPC (grpcio) with hand-encoded protobuf.
Field numbers are those of k8s.io/cri-api pkg/apis/runtime/v1/api.proto.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

SERVICE = "/runtime.v1.RuntimeService/"
NAMESPACE_NODE = 2  # NamespaceMode.NODE: the host's namespace (here: host network, no CNI needed)
CONTAINER_RUNNING = 1
CONTAINER_EXITED = 2


# ---- protobuf wire format: varints (type 0) and length-delimited fields (type 2) ----


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32/int64 travel as 10-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def integer(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value) if value else b""


def blob(field: int, value: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(value)) + value


def text(field: int, value: str) -> bytes:
    return blob(field, value.encode()) if value else b""


def texts(field: int, values: list[str]) -> bytes:
    return b"".join(blob(field, v.encode()) for v in values)


def decode(data: bytes) -> dict[int, list]:
    """Fields by number: ints for varints, bytes for length-delimited (nested messages stay bytes)."""
    fields: dict[int, list] = {}
    pos = 0

    def read_varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while pos < len(data):
        key = read_varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            value: int | bytes = read_varint()
        elif wire == 2:
            size = read_varint()
            value = data[pos : pos + size]
            pos += size
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.setdefault(field, []).append(value)
    return fields


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

    def encode(self) -> bytes:
        metadata = text(1, self.name) + text(2, self.uid) + text(3, self.namespace)
        namespace_options = integer(1, NAMESPACE_NODE)  # network=NODE
        security = blob(1, namespace_options)
        linux = text(1, self.cgroup_parent) + blob(2, security)
        return blob(1, metadata) + text(3, self.log_directory) + blob(8, linux)


@dataclass
class ContainerStatus:
    state: int
    exit_code: int
    reason: str
    message: str


@dataclass
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int


class CriClient:
    def __init__(self, socket_path: str) -> None:
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
        config = (
            blob(1, text(1, name))  # metadata
            + blob(2, text(1, image))  # image spec
            + texts(3, command)
            + text(11, log_path)
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
