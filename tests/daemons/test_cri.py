"""The Kubernetes path: a runtime entry in containerd's config.toml with BinaryName,
selected by name (runtime_handler, what a RuntimeClass's `handler` names), driven through the CRI
plugin and the runc shim exactly as a kubelet would."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

grpc = pytest.importorskip("grpc", reason="the CRI tests talk gRPC: pip install grpcio")

from . import leaks  # noqa: E402 (after the grpc skip)
from .conftest import IMAGE_REF  # noqa: E402 (after the grpc skip)
from .cri import (  # noqa: E402 (after the grpc skip)
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    CriClient,
    PodConfig,
    serving_client,
)
from .daemons import Containerd  # noqa: E402 (after the grpc skip)

pytestmark = pytest.mark.daemons


@pytest.fixture(scope="module")
def cri(cri_containerd: Containerd) -> Iterator[CriClient]:
    with serving_client(str(cri_containerd.address), lambda: cri_containerd.log_tail(200)) as client:
        yield client


@pytest.fixture
def pod(
    cri: CriClient, cri_containerd: Containerd, request: pytest.FixtureRequest
) -> Iterator[tuple[str, PodConfig]]:
    """A pod sandbox on the config.toml runtime entry; stopped and removed after the test."""
    token = cri_containerd.token
    name = request.node.name.removeprefix("test_").replace("_", "-")[:30].strip("-")
    config = PodConfig(
        name=name,
        uid=f"{name}-{token}",
        namespace="default",
        log_directory=str(cri_containerd.dir / "pods" / name),
        cgroup_parent=f"/{cri_containerd.cgroup_parent}/{name}",
    )
    try:
        sandbox_id = cri.run_pod_sandbox(config, runtime_handler=cri_containerd.runtime_name)
        try:
            yield sandbox_id, config
        finally:
            cri.stop_pod_sandbox(sandbox_id)
            cri.remove_pod_sandbox(sandbox_id)
    finally:
        remove_pod_cgroup(config.cgroup_parent)


def remove_pod_cgroup(pod_cgroup: str) -> None:
    """The pod's cgroup parent belongs to the kubelet, which removes it after the pod: do the same,
    failing if the runtime left a container's cgroup inside it."""
    left = []
    for hierarchy in leaks.cgroup_parents():
        path = hierarchy / pod_cgroup.lstrip("/")
        if path.is_dir():
            left += [str(p) for p in path.iterdir() if p.is_dir()]
            left += leaks.remove_cgroup_tree(path)
    assert not left, f"container cgroups left in the pod's cgroup: {left}"


def calls_for(daemon: Containerd, object_id: str) -> list[str]:
    return [c for c in daemon.runtime_calls() if c.endswith(f" {object_id}")]


def test_pod_sandbox_runs_on_the_binaryname_runtime(
    pod: tuple[str, PodConfig], cri_containerd: Containerd
) -> None:
    sandbox_id, _ = pod
    calls = calls_for(cri_containerd, sandbox_id)
    assert any(" create --bundle " in c for c in calls), cri_containerd.runtime_calls()
    assert any(c.endswith(f"start {sandbox_id}") for c in calls), calls
    # The shim used config.toml's BinaryName and Root.
    assert all(c.startswith(f"--root {cri_containerd.runc_root}/k8s.io ") for c in calls), calls


def test_container_exec_logs_and_stop(
    cri: CriClient, pod: tuple[str, PodConfig], cri_containerd: Containerd
) -> None:
    sandbox_id, config = pod
    container_id = cri.create_container(
        sandbox_id, config, "work", IMAGE_REF, ["sh", "-c", "echo from-cri; exec sleep 1000"], "work.log"
    )
    cri.start_container(container_id)
    assert cri.container_status(container_id).state == CONTAINER_RUNNING
    assert any(" create --bundle " in c for c in calls_for(cri_containerd, container_id))

    result = cri.exec_sync(container_id, ["sh", "-c", "echo $((6*7)); echo oops >&2; exit 3"])
    assert (result.stdout, result.stderr, result.exit_code) == ("42\n", "oops\n", 3)
    assert any(" exec --process " in c for c in calls_for(cri_containerd, container_id))

    log = cri_containerd.dir / "pods" / config.name / "work.log"
    deadline = time.monotonic() + 10
    while "from-cri" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "container output never reached the CRI log"
        time.sleep(0.1)

    cri.stop_container(container_id, timeout=0)
    status = cri.container_status(container_id)
    assert (status.state, status.exit_code) == (CONTAINER_EXITED, 137), status
    cri.remove_container(container_id)


def test_a_refused_config_shows_the_runtimes_message(cri: CriClient, pod: tuple[str, PodConfig]) -> None:
    sandbox_id, config = pod
    bad = cri.create_container(sandbox_id, config, "bad", IMAGE_REF, ["/no/such/binary"], "bad.log")
    with pytest.raises(grpc.RpcError) as refused:
        cri.start_container(bad)
    details = refused.value.details()
    assert "OCI runtime create failed" in details and "/no/such/binary" in details, details
    assert "exit status 1" not in details, details
    cri.remove_container(bad)

    good = cri.create_container(sandbox_id, config, "good", IMAGE_REF, ["sleep", "1000"], "good.log")
    cri.start_container(good)
    assert cri.exec_sync(good, ["echo", "still-fine"]).stdout == "still-fine\n"
    cri.stop_container(good, timeout=0)
    cri.remove_container(good)
