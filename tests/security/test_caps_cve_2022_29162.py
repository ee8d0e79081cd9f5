"""CVE-2022-29162: runc (`exec --cap`, and its default spec) put capabilities in the inheritable
set, so a non-root process in the container gained them by executing a file with inheritable file
capabilities. pyrunc never defaults inheritable (nor ambient, which needs it): they come only
from process.capabilities.inheritable / ambient, written in the config.

Also here: `pyrunc spec`'s defaults keep the host's kernel knobs out of reach
(/proc/sys/kernel/core_pattern, /proc/sysrq-trigger).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess

import pytest

from tests.security.helpers import exec_output
from tests.support import PYRUNC

CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_SYS_ADMIN = 21
VFS_CAP_REVISION_2 = 0x02000000
VFS_CAP_FLAGS_EFFECTIVE = 0x000001


def cap_sets(status_text: str) -> dict[str, int]:
    """{'CapInh': mask, 'CapPrm': ..., 'CapEff': ..., 'CapBnd': ..., 'CapAmb': ...}"""
    out = {}
    for line in status_text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            out[key] = int(value.strip(), 16)
    assert set(out) == {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}, status_text
    return out


def spec_config(tmp_path) -> dict:
    """What `pyrunc spec` writes."""
    where = tmp_path / "spec"
    where.mkdir()
    subprocess.run([PYRUNC, "spec", "--bundle", str(where)], check=True)
    with open(where / "config.json") as f:
        return json.load(f)


def spec_bundle(make_bundle, tmp_path, args: list[str]):
    """`pyrunc spec`'s config, made to run without a terminal: only process.terminal and
    process.args change."""
    config = spec_config(tmp_path)
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    bundle = make_bundle()
    bundle.config = config
    return bundle.write()


def test_spec_never_fills_inheritable_or_ambient(tmp_path):
    caps = spec_config(tmp_path)["process"]["capabilities"]
    assert not caps.get("inheritable") and not caps.get("ambient"), caps


def test_spec_container_has_empty_inheritable_and_ambient(runtime, make_bundle, cid, tmp_path):
    bundle = spec_bundle(make_bundle, tmp_path, ["cat", "/proc/self/status"])
    result = runtime("run", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    sets = cap_sets(result.stdout)
    assert sets["CapInh"] == 0 and sets["CapAmb"] == 0, sets
    assert sets["CapPrm"] == sets["CapEff"] == sets["CapBnd"] != 0, sets


# Never writes: open for append and close. /dev/null is avoided on purpose (see
# test_proc_cve_2019_19921.py).
KNOBS = """
for f in /proc/sys/kernel/core_pattern /proc/sysrq-trigger; do
    if [ ! -e $f ]; then echo "$f absent"
    elif [ -c $f ] && [ "$(stat -c %t:%T $f)" = 1:3 ]; then echo "$f null-device"
    elif (: >> $f) 2>&-; then echo "$f WRITABLE"
    else echo "$f refused"; fi
done
"""


def test_spec_defaults_keep_core_pattern_and_sysrq_out_of_reach(runtime, make_bundle, cid, tmp_path):
    """core_pattern names a program the host kernel runs as root on a crash; sysrq-trigger
    reboots or crashes the host. With `pyrunc spec`'s defaults both are masked (bound to the null
    device) and /proc/sys is read-only. (This kernel has no sysrq: the file may be absent.)"""
    bundle = spec_bundle(make_bundle, tmp_path, ["sh", "-c", KNOBS])
    result = runtime("run", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    lines = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())
    assert lines["/proc/sys/kernel/core_pattern"] == "null-device", result.stdout
    assert lines["/proc/sysrq-trigger"] in ("null-device", "absent"), result.stdout
    if os.path.exists("/proc/sysrq-trigger"):
        assert lines["/proc/sysrq-trigger"] == "null-device", result.stdout


def test_config_without_inheritable_gives_none(runtime, make_bundle, cid):
    """Ambient listed without inheritable: the kernel refuses ambient (it needs inheritable), and
    nothing fills inheritable to make it work."""
    bundle = make_bundle(args=["cat", "/proc/self/status"])
    wanted = ["CAP_NET_RAW", "CAP_CHOWN"]
    bundle.config["process"]["capabilities"] = {
        "bounding": wanted, "effective": wanted, "permitted": wanted, "ambient": ["CAP_NET_RAW"],
    }  # fmt: skip
    bundle.write()
    sets = cap_sets(runtime("run", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL).stdout)
    assert sets["CapInh"] == 0 and sets["CapAmb"] == 0, sets
    assert sets["CapEff"] & (1 << CAP_NET_RAW)


def test_exec_cap_adds_no_inheritable(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "1000"])
    runtime("run", "-d", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    code, output = exec_output(runtime, "--cap", "CAP_NET_ADMIN", cid, "cat", "/proc/self/status")
    assert code == 0, output
    sets = cap_sets(output)
    assert sets["CapInh"] == 0 and sets["CapAmb"] == 0, sets
    assert sets["CapEff"] & (1 << CAP_NET_ADMIN), sets


def plant_inheritable_capbox(rootfs: str) -> str:
    """A copy of busybox whose file capabilities let a process with CAP_NET_RAW and CAP_SYS_ADMIN
    in its inheritable set gain them (fI, with the effective bit), whoever runs it."""
    directory = os.path.join(rootfs, "capbox")
    os.mkdir(directory)
    path = os.path.join(directory, "busybox")  # busybox picks its applet from argv[1] under this name
    shutil.copy(os.path.join(rootfs, "bin", "busybox"), path)
    inheritable = (1 << CAP_NET_RAW) | (1 << CAP_SYS_ADMIN)
    value = struct.pack("<5I", VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, 0, inheritable, 0, 0)
    os.setxattr(path, "security.capability", value)
    return "/capbox/busybox"


@pytest.mark.parametrize("inheritable", [None, ["CAP_NET_RAW"]], ids=["default", "control"])
def test_unprivileged_user_gains_nothing_from_inheritable_file_caps(runtime, make_bundle, cid, inheritable):
    """The attack: uid 1000, no_new_privs off, runs a file with inheritable file capabilities.
    With the defaults it gains nothing. The control puts CAP_NET_RAW in the config's inheritable
    set on purpose and shows the same file then grants it, so the test would see a leak."""
    bundle = make_bundle()
    capbox = plant_inheritable_capbox(bundle.rootfs)
    process = bundle.config["process"]
    process["args"] = [capbox, "cat", "/proc/self/status"]
    process["user"] = {"uid": 1000, "gid": 1000}
    process["noNewPrivileges"] = False
    process["capabilities"] = {"bounding": ["CAP_NET_RAW", "CAP_SYS_ADMIN"], "effective": [], "permitted": []}
    if inheritable:
        process["capabilities"]["inheritable"] = inheritable
    bundle.write()
    sets = cap_sets(runtime("run", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL).stdout)
    if inheritable is None:
        assert sets["CapPrm"] == sets["CapEff"] == sets["CapInh"] == 0, sets
    else:
        assert sets["CapEff"] == sets["CapPrm"] == 1 << CAP_NET_RAW, sets
