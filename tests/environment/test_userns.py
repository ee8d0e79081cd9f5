"""User namespaces (issue 3, item 5): the mappings as written, root inside is the mapped host uid,
and mounts, devices, masked paths and host names all work inside one."""

from __future__ import annotations

import os

from .helpers import (
    exec_inside,
    mount_at,
    ns_link,
    proc_status,
    read_report,
    report_then_sleep,
    running,
    userns,
)


def id_map(pid: int, kind: str) -> list[tuple[int, int, int]]:
    with open(f"/proc/{pid}/{kind}_map") as f:
        return [tuple(int(n) for n in line.split()) for line in f]


def test_mappings_are_written_as_configured(runtime, make_bundle, cid):
    bundle = userns(make_bundle(args=["sleep", "infinity"]), size=1000)
    linux = bundle.config["linux"]
    linux["uidMappings"].append({"containerID": 1000, "hostID": 300000, "size": 10})
    linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 2000}]
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        assert id_map(pid, "uid") == [(0, 100000, 1000), (1000, 300000, 10)]
        assert id_map(pid, "gid") == [(0, 100000, 2000)]
        assert ns_link(pid, "user") != ns_link("self", "user")
        status = proc_status(pid)
        assert status["Uid"].split() == ["100000"] * 4, "root inside is the mapped host uid"
        assert status["Gid"].split() == ["100000"] * 4


def test_process_user_maps_through_the_second_range(runtime, make_bundle, cid):
    bundle = userns(make_bundle(args=["sleep", "infinity"]), size=1000)
    bundle.config["linux"]["uidMappings"].append({"containerID": 1000, "hostID": 300000, "size": 10})
    bundle.config["process"]["user"] = {"uid": 1003, "gid": 7}
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        status = proc_status(pid)
        assert status["Uid"].split() == ["300003"] * 4
        assert status["Gid"].split() == ["100007"] * 4


def test_mounts_devices_masks_and_names_work_inside(runtime, make_bundle, cid, host_dir):
    volume = host_dir("volume")
    os.chmod(volume, 0o777)
    bundle = userns(make_bundle())
    bundle.config["domainname"] = "userns.example"
    bundle.config["mounts"] += [
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]},
        {"destination": "/volume", "type": "bind", "source": volume, "options": ["rbind"]},
    ]
    script = (
        "hostname; cat /proc/sys/kernel/domainname; id -u;"
        "touch /scratch/a && echo tmpfs-ok; touch /volume/made && stat -c %u /volume/made;"
        "echo x > /dev/null && head -c 3 /dev/zero | wc -c; wc -c < /proc/keys"
    )
    report_then_sleep(bundle, script)
    with running(runtime, bundle, cid) as pid:
        for point, fstype in (
            ("/proc", "proc"),
            ("/sys", "sysfs"),
            ("/dev/pts", "devpts"),
            ("/dev/mqueue", "mqueue"),
            ("/scratch", "tmpfs"),
            ("/dev/null", "devtmpfs"),  # a device bound from the host
        ):
            assert mount_at(pid, point).fstype == fstype, point
        assert mount_at(pid, "/proc/keys").root.endswith("null"), "masked with a null device"
        assert "ro" in mount_at(pid, "/proc/sys").options
        out = read_report(pid).splitlines()
    assert out == ["hello", "userns.example", "0", "tmpfs-ok", "0", "3", "0"], out
    # What container root made is the mapped host uid's on the host.
    assert os.stat(os.path.join(volume, "made")).st_uid == 100000


def test_bind_source_under_a_directory_closed_to_the_mapped_root(runtime, make_bundle, cid, host_dir):
    closed = host_dir("closed")
    os.chmod(closed, 0o700)
    inner = os.path.join(closed, "inner")
    os.mkdir(inner)
    with open(os.path.join(inner, "file"), "w") as f:
        f.write("reached\n")
    bundle = userns(make_bundle(args=["cat", "/data/file"]))
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": inner, "options": ["rbind"]}
    )
    bundle.write()
    assert runtime("run", "--bundle", bundle.path, cid).stdout == "reached\n"


def test_exec_into_a_user_namespace(runtime, make_bundle, cid):
    bundle = userns(make_bundle(args=["sleep", "infinity"]))
    with running(runtime, bundle, cid):
        assert exec_inside(runtime, cid, "id -u; hostname").stdout.split() == ["0", "hello"]
