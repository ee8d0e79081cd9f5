"""cgroups/discovery.py over written mountinfo and /proc/self/cgroup files: the v1 manager and the
/sys/fs/cgroup mount plan read the hierarchies alike (one v1 controller list, one key for cgroup2,
paths unescaped by pyrunc.mountinfo)."""

from __future__ import annotations

from pyrunc.cgroups.discovery import UNIFIED, hierarchy_keys, mounted_hierarchies, own_cgroups

HYBRID = "\n".join(
    [
        "25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755",
        "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate",
        "27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd",
        "28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct",
        r"29 25 0:26 /pods /sys/fs/cgroup/mem\040ory rw,nosuid - cgroup cgroup rw,memory",
        "30 25 0:26 / /mnt/memory-again rw - cgroup cgroup rw,memory",
    ]
)


def test_hierarchies_by_controller_with_cgroup2_as_unified(tmp_path):
    path = tmp_path / "mountinfo"
    path.write_text(HYBRID + "\n")
    assert mounted_hierarchies(str(path)) == {
        UNIFIED: ("/sys/fs/cgroup/unified", "/"),
        "name=systemd": ("/sys/fs/cgroup/systemd", "/"),
        "cpu": ("/sys/fs/cgroup/cpu,cpuacct", "/"),
        "cpuacct": ("/sys/fs/cgroup/cpu,cpuacct", "/"),
        "memory": ("/sys/fs/cgroup/mem ory", "/pods"),  # unescaped; the first mount counts
    }


def test_own_cgroups_keys_cgroup2_as_the_hierarchies_do(tmp_path):
    path = tmp_path / "cgroup"
    path.write_text("4:cpu,cpuacct:/a\n3:memory:/b\n1:name=systemd:/c\n0::/d:with:colons\n")
    assert own_cgroups(str(path)) == {
        "cpu": "/a",
        "cpuacct": "/a",
        "memory": "/b",
        "name=systemd": "/c",
        UNIFIED: "/d:with:colons",
    }
    assert hierarchy_keys("cgroup2", "rw,nsdelegate") == [UNIFIED]
    assert hierarchy_keys("cgroup", "rw,xattr,name=systemd") == ["name=systemd"]
