"""linux.devices and the default devices (issue 3, item 3): nodes made in the container's /dev with
their type, numbers, mode and owner; inside a user namespace (where mknod is not allowed) bound from
the host instead; the defaults always there and usable."""

from __future__ import annotations

import os
import stat

from .helpers import (
    exec_inside,
    long_running,
    mount_at,
    read_report,
    report_then_sleep,
    run_inside,
    running,
    userns,
)

DEVICES = [
    {"path": "/dev/mychar", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 1000, "gid": 1001},
    {"path": "/dev/myblk", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600, "uid": 0, "gid": 6},
    {"path": "/dev/myunbuffered", "type": "u", "major": 1, "minor": 7, "fileMode": 0o666},
    {"path": "/dev/myfifo", "type": "p", "fileMode": 0o620, "uid": 2, "gid": 3},
    {"path": "/dev/deep/er/nested", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600},
]
KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
DEFAULT_DEVICES = {
    "null": (1, 3),
    "zero": (1, 5),
    "full": (1, 7),
    "random": (1, 8),
    "urandom": (1, 9),
    "tty": (5, 0),
}
DEFAULT_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "ptmx": "pts/ptmx",
}


def test_config_devices_have_their_type_numbers_mode_and_owner(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    bundle.config["linux"]["devices"] = DEVICES
    bundle.write()
    problems = []
    with running(runtime, bundle, cid) as pid:
        for device in DEVICES:
            st = os.lstat(f"/proc/{pid}/root{device['path']}")
            got = (
                stat.S_IFMT(st.st_mode),
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                os.major(st.st_rdev) if device["type"] != "p" else None,
                os.minor(st.st_rdev) if device["type"] != "p" else None,
            )
            want = (
                KINDS[device["type"]],
                device["fileMode"],
                device.get("uid", 0),
                device.get("gid", 0),
                device.get("major"),
                device.get("minor"),
            )
            if got != want:
                problems.append(f"{device['path']}: got {got}, want {want}")
        assert not problems, "\n".join(problems)
        script = "stat -c '%F %t:%T %a %u:%g' /dev/mychar /dev/myfifo; head -c 4 /dev/myunbuffered | wc -c"
        out = exec_inside(runtime, cid, script).stdout.splitlines()
    assert out == ["character special file 1:5 640 1000:1001", "fifo 0:0 620 2:3", "4"]


def test_default_devices_and_links_are_present_and_usable(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    with running(runtime, bundle, cid) as pid:
        root = f"/proc/{pid}/root/dev"
        for name, numbers in DEFAULT_DEVICES.items():
            st = os.lstat(f"{root}/{name}")
            assert stat.S_ISCHR(st.st_mode), name
            assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == numbers, name
            assert stat.S_IMODE(st.st_mode) == 0o666, f"{name}: {oct(st.st_mode)}"
        for name, target in DEFAULT_LINKS.items():
            assert os.readlink(f"{root}/{name}") == target, name
        script = (
            "echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | wc -c; head -c 5 /dev/urandom | wc -c;"
            "{ echo x > /dev/full; } 2>&1; test -e /dev/console && echo console || echo no-console"
        )
        out = exec_inside(runtime, cid, script).stdout.splitlines()
    assert out[:3] == ["null-ok", "3", "5"], out
    assert "No space left on device" in out[3], out
    assert out[4] == "no-console", "/dev/console exists only with a terminal"


def test_devices_in_a_user_namespace_are_bound_from_the_host(runtime, make_bundle, cid):
    bundle = userns(make_bundle())
    bundle.config["linux"]["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]
    report_then_sleep(bundle, "echo x > /dev/null && head -c 2 /dev/zero | wc -c")
    with running(runtime, bundle, cid) as pid:
        for name, numbers in {**DEFAULT_DEVICES, "kmsg": (1, 11)}.items():
            entry = mount_at(pid, f"/dev/{name}")
            assert entry.fstype == "devtmpfs" and entry.root == f"/{name}", entry
            st = os.stat(f"/proc/{pid}/root/dev/{name}")
            assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == numbers, name
        assert read_report(pid).split() == ["2"]


def test_a_config_device_replaces_a_default(runtime, make_bundle, cid):
    """A device at a default path is the config's, not the default's."""
    bundle = make_bundle()
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/full", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 0, "gid": 0}
    ]
    bundle.config["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}
    )
    out = run_inside(runtime, bundle, cid, "stat -c '%t:%T %a' /dev/full; echo x > /dev/full && echo written")
    assert out.split("\n")[:2] == ["1:3 600", "written"]
