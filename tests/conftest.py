"""Fixtures shared by every test: the runtime binary, a busybox rootfs, bundles, and reaping.

PID 1 on these machines does not reap orphans, so the test process is a child subreaper: the
containers' inits that outlive `pyrunc create` are reparented to it, and it reaps them.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import uuid

import prctl
import pytest

from tests.support import (  # noqa: F401  (re-exported for test modules)
    HELLO_CONFIG,
    PYRUNC,
    REPO,
    USED_IDS,
    Bundle,
    Runtime,
    base_config,
    reap_orphans,
)


def pytest_configure(config: pytest.Config) -> None:
    prctl.set_child_subreaper(True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PYRUNC_QUICK_EXAMPLES=N (tools/quick) caps every property test at N examples: the quick
    stage runs each once for a minute's worth; the main pytest stage runs them in full."""
    cap = int(os.environ.get("PYRUNC_QUICK_EXAMPLES") or 0)
    if not cap:
        return
    from hypothesis import settings

    for item in items:
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if current is not None and current.max_examples > cap:
            test._hypothesis_internal_use_settings = settings(current, max_examples=cap)


@pytest.fixture(scope="session", autouse=True)
def _hybrid_unified_controllers_restored():
    """On a hybrid host, what tests drive in the cgroup2 hierarchy (pyrunc's V2Manager in
    tests/cgroups, the daemons' own cgroup code) may enable in its root the controllers free there
    (hugetlb, when the host does not mount it as v1). Left enabled, v1 can no longer mount that
    controller (EBUSY): crun 1.8.1, for one, then refuses the host, and the conformance stage runs
    after pytest. So what the session enabled there is disabled again at its end."""
    control = "/sys/fs/cgroup/unified/cgroup.subtree_control"
    if not os.path.exists(control):
        yield
        return
    with open(control) as f:
        before = set(f.read().split())
    yield
    with open(control) as f:
        added = set(f.read().split()) - before
    for controller in sorted(added):
        try:
            with open(control, "w") as f:
                f.write(f"-{controller}")
        except OSError as e:  # still used below the root by someone else's cgroup: say so
            print(f"tests: could not disable {controller} in {control} again: {e}", file=sys.stderr)


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A busybox-static rootfs, built once per session by oci-bundles/build."""
    path = str(tmp_path_factory.mktemp("rootfs") / "rootfs")
    subprocess.run([os.path.join(REPO, "oci-bundles", "build"), path], check=True)
    return path


@pytest.fixture
def make_bundle(tmp_path, rootfs_template):
    """make_bundle(args=[...], **top-level overrides) -> Bundle (config written)."""
    count = [0]

    def make(args: list[str] | None = None, **overrides) -> Bundle:
        count[0] += 1
        path = str(tmp_path / f"bundle{count[0]}")
        os.mkdir(path)
        shutil.copytree(rootfs_template, os.path.join(path, "rootfs"), symlinks=True)
        config = base_config()
        if args is not None:
            config["process"]["args"] = args
        config.update(copy.deepcopy(overrides))
        return Bundle(path, config).write()

    return make


@pytest.fixture
def runtime(tmp_path) -> Runtime:
    root = str(tmp_path / "root")
    rt = Runtime(PYRUNC, root)
    yield rt
    # Whatever a test left: force-delete through the runtime itself, then reap. A clean-up that
    # fails is a runtime bug: the test fails with its message.
    failures = []
    if os.path.isdir(root):
        for container_id in os.listdir(root):
            if container_id.startswith("#"):
                continue  # e.g. the seccomp cache
            # Reap first: a zombie child of ours inside a container's pid namespace (a detached
            # exec) keeps that namespace's init from finishing its exit.
            reap_orphans()
            result = subprocess.run(
                rt.cmd("delete", "--force", container_id), capture_output=True, text=True, timeout=60
            )
            if result.returncode != 0:
                reap_orphans()
                result = subprocess.run(
                    rt.cmd("delete", "--force", container_id), capture_output=True, text=True, timeout=60
                )
            if result.returncode != 0:
                failures.append(f"delete --force {container_id}: {result.stderr.strip()}")
    reap_orphans()
    if failures:
        pytest.fail("; ".join(failures))


@pytest.fixture
def cid() -> str:
    """A unique container id."""
    return f"t-{uuid.uuid4().hex[:12]}"
