"""What pyrunc tells CRIU, from the flags and the config (pure logic, any host)."""

from __future__ import annotations

import pytest

from pyrunc.container.criu import CriuOptions, cgroup_root_args, external_mounts, freezer_path
from pyrunc.errors import PyruncError


def test_flags_become_criu_arguments(tmp_path):
    opts = CriuOptions(
        image_path=str(tmp_path / "img"),
        tcp_established=True,
        ext_unix_sk=True,
        shell_job=True,
        file_locks=True,
        lazy_pages=True,
        auto_dedup=True,
        manage_cgroups_mode="full",
        empty_ns=["network"],
        external=["dev[1/3]:null"],
    )
    assert opts.work_path == opts.image_path == str(tmp_path / "img")
    args = opts.shared_args()
    for flag in (
        "--tcp-established",
        "--ext-unix-sk",
        "--shell-job",
        "--file-locks",
        "--lazy-pages",
        "--auto-dedup",
    ):
        assert flag in args
    assert "--manage-cgroups=full" in args
    assert args[args.index("--empty-ns") + 1] == "net"
    assert args[args.index("--external") + 1] == "dev[1/3]:null"
    assert "--manage-cgroups=soft" in CriuOptions().shared_args(), "runc's default"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"manage_cgroups_mode": "bogus"}, "--manage-cgroups-mode bogus"),
        ({"empty_ns": ["pid"]}, "--empty-ns pid"),
        ({"parent_path": "/abs"}, "--parent-path must be relative"),
        ({"page_server": "nohost"}, "--page-server nohost"),
        ({"status_fd": 987}, "--status-fd 987"),
    ],
)
def test_bad_flags_are_named(values, message):
    with pytest.raises(PyruncError, match=message):
        CriuOptions(**values)


def test_external_mounts_binds_masked_files_and_cgroup_bind(tmp_path):
    config = {
        "mounts": [
            {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind"]},
            {"destination": "/rel", "source": "sub", "options": ["bind", "ro"]},
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
        ],
        "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}], "maskedPaths": ["/proc/kcore"]},
    }
    found = external_mounts(config, "/bundle", {"version": 2, "path": "/sys/fs/cgroup/a/b"})
    assert found["/data"] == "/srv/data"
    assert found["/rel"] == "/bundle/sub"
    assert found["/proc/kcore"] == "/dev/null"
    assert "/proc" not in found
    # Without a cgroup namespace the cgroup mount is a bind of the host's directory (on v2 the
    # container's own; on a v1 host one bind per hierarchy).
    assert any(dest.startswith("/sys/fs/cgroup") for dest in found)


def test_cgroup_root_and_freezer():
    v2 = {"version": 2, "path": "/sys/fs/cgroup/pyrunc/c1"}
    assert freezer_path(v2) == "/sys/fs/cgroup/pyrunc/c1"
    v1 = {
        "version": 1,
        "paths": {"freezer": "/sys/fs/cgroup/freezer/p/c1", "memory": "/sys/fs/cgroup/memory/p/c1"},
    }
    assert freezer_path(v1) == "/sys/fs/cgroup/freezer/p/c1"
    assert cgroup_root_args(v1) == ["--cgroup-root", "freezer:/p/c1", "--cgroup-root", "memory:/p/c1"]
    assert cgroup_root_args(None) == [] and freezer_path(None) == ""
